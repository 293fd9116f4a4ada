"""Nominal fire times: cron in the entry's zone with the stated daylight-saving rules, intervals
in absolute time, bounds kept; the clock is driven, never waited for."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tuskflow.scheduler.fire_times import fire_times, next_fire
from tuskflow.scheduler.schedule_file import ScheduleEntry

BERLIN = ZoneInfo("Europe/Berlin")


def _entry(**rule: Any) -> ScheduleEntry:
    return ScheduleEntry.model_validate({"id": "e", "job": Path("job.yaml"), **rule})


def _fires(entry: ScheduleEntry, after: datetime, until: datetime) -> list[datetime]:
    return list(fire_times(entry, after, until))


def test_a_nightly_0230_berlin_fires_once_at_0300_on_the_spring_forward_night() -> None:
    nightly = _entry(cron="30 2 * * *", timezone="Europe/Berlin")

    fires = _fires(
        nightly, datetime(2026, 3, 28, 12, tzinfo=BERLIN), datetime(2026, 3, 30, 12, tzinfo=BERLIN)
    )

    assert [f.astimezone(BERLIN).isoformat() for f in fires] == [
        "2026-03-29T03:00:00+02:00",  # 02:30 does not exist that night
        "2026-03-30T02:30:00+02:00",
    ]


def test_a_nightly_0230_berlin_fires_once_on_the_fall_back_night() -> None:
    nightly = _entry(cron="30 2 * * *", timezone="Europe/Berlin")

    fires = _fires(
        nightly,
        datetime(2026, 10, 24, 12, tzinfo=BERLIN),
        datetime(2026, 10, 26, 12, tzinfo=BERLIN),
    )

    assert [f.astimezone(BERLIN).isoformat() for f in fires] == [
        "2026-10-25T02:30:00+02:00",  # its first occurrence only
        "2026-10-26T02:30:00+01:00",
    ]


def test_an_hourly_entry_fires_once_per_real_hour_across_both_transitions() -> None:
    hourly = _entry(cron="0 * * * *", timezone="Europe/Berlin")
    for night in (datetime(2026, 3, 28, 22, tzinfo=UTC), datetime(2026, 10, 24, 22, tzinfo=UTC)):
        fires = _fires(hourly, night, night + timedelta(hours=6))

        assert fires == [night + timedelta(hours=h) for h in range(1, 7)], night


def test_every_counts_whole_intervals_from_start_in_absolute_time() -> None:
    start = datetime(2026, 12, 1, 0, 0, 5, tzinfo=UTC)
    every = _entry(every="10s", start=start.isoformat(), timezone="Europe/Berlin")

    fires = _fires(every, start + timedelta(seconds=12), start + timedelta(seconds=40))

    assert fires == [start + timedelta(seconds=s) for s in (20, 30, 40)]


def test_every_without_start_counts_from_the_epoch_so_every_beat_agrees() -> None:
    every = _entry(every="1m")
    after = datetime(2026, 12, 4, 10, 0, 30, tzinfo=UTC)

    assert next_fire(every, after) == datetime(2026, 12, 4, 10, 1, tzinfo=UTC)
    assert next_fire(every, datetime(2026, 12, 4, 10, 1, tzinfo=UTC)) == datetime(
        2026, 12, 4, 10, 2, tzinfo=UTC
    )


def test_start_and_end_bound_the_nominal_times_both_included() -> None:
    start, end = datetime(2026, 12, 4, 10, tzinfo=UTC), datetime(2026, 12, 4, 10, 3, tzinfo=UTC)
    minutely = _entry(cron="* * * * *", start=start.isoformat(), end=end.isoformat())

    fires = _fires(minutely, start - timedelta(hours=1), end + timedelta(hours=1))

    assert fires == [start + timedelta(minutes=m) for m in range(4)]
    assert next_fire(minutely, end) is None


def test_six_fields_read_seconds_first() -> None:
    often = _entry(cron="*/20 * * * * *")
    after = datetime(2026, 12, 4, 10, tzinfo=UTC)

    assert _fires(often, after, after + timedelta(minutes=1)) == [
        after + timedelta(seconds=s) for s in (20, 40, 60)
    ]
