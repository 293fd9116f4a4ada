"""Daylight-saving transitions with real `tuskflow beat` processes: each run's clock starts a
few seconds before a transition in Europe/Berlin (time-machine, started by a sitecustomize on
the beat's PYTHONPATH, moves every clock the process reads and lets it tick on), so the real
beat, store and broker live through it.

2027-03-28, spring forward (02:00 CET becomes 03:00 CEST at 01:00 UTC): 02:30 local does not
exist, so the 02:30 entry fires once at 03:00 CEST; the hourly entry fires at that real hour.
2027-10-31, fall back (03:00 CEST becomes 02:00 CET at 01:00 UTC): 02:30 local happens twice,
at 00:30 and 01:30 UTC, and the 02:30 entry fires once, at the first; the hourly entry fires
at 01:00 UTC, the second 02:00 local, a real hour of its own.
"""

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis

from tests.e2e.beat_processes import beats

BROKER_DB = 10
_SITECUSTOMIZE = """import os
import time_machine

if os.environ.get("FAKE_CLOCK_START"):
    time_machine.travel(os.environ["FAKE_CLOCK_START"], tick=True).start()
"""
# Each run: the clock starts LEAD before a moment, and the beat runs until a fire of that
# moment is recorded (or, where none may be, until the moment has passed by SETTLE).
LEAD = timedelta(seconds=4)
SETTLE_S = 3.0


@pytest.fixture
def broker(redis_url: str) -> Iterator[str]:
    url = urlsplit(redis_url)._replace(path=f"/{BROKER_DB}").geturl()
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


def _fires(url: str) -> list[tuple[str, datetime]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT stream_id, data->>'nominal' FROM events"
            " WHERE starts_with(stream_id, 'schedule-') AND event_type = 'FireRecorded'"
            " ORDER BY global_position"
        ).fetchall()
    return [(stream.removeprefix("schedule-"), datetime.fromisoformat(n)) for stream, n in rows]


def test_beats_across_both_berlin_transitions_fire_each_local_time_as_the_rules_say(
    migrated_url: str, broker: str, tmp_path: Path
) -> None:
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    (tmp_path / "tiny.yaml").write_text(
        f"version: 1\nname: tiny\nsource: {{format: csv, path: {tmp_path / 'data.csv'}}}\n"
        f"sink: {{kind: parquet, path: {tmp_path / 'out'}}}\n"
    )
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(
        "entries:\n"
        "  - {id: berlin-0230, cron: '30 2 * * *', timezone: Europe/Berlin, job: tiny.yaml,"
        " overlap: allow, missed: {policy: skip}}\n"
        "  - {id: berlin-hourly, cron: '0 * * * *', timezone: Europe/Berlin, job: tiny.yaml,"
        " overlap: allow, missed: {policy: skip}}\n"
    )
    clock = tmp_path / "clock"
    clock.mkdir()
    (clock / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    moments = [
        (datetime(2027, 3, 28, 1, 0, tzinfo=UTC), 2),  # 03:00 CEST: both entries
        (datetime(2027, 10, 31, 0, 30, tzinfo=UTC), 1),  # 02:30 CEST: the 02:30 entry
        (datetime(2027, 10, 31, 1, 0, tzinfo=UTC), 1),  # 02:00 CET: the hourly entry
        (datetime(2027, 10, 31, 1, 30, tzinfo=UTC), 0),  # 02:30 CET again: nothing
    ]
    logs = tmp_path / "logs"
    logs.mkdir()
    for index, (moment, fires) in enumerate(moments):
        with beats(
            schedule,
            migrated_url,
            broker,
            logs,
            PYTHONPATH=str(clock),
            FAKE_CLOCK_START=(moment - LEAD).isoformat(),
        ) as run:
            before = len(_fires(migrated_url))
            run.start(f"beat{index}")
            deadline = time.monotonic() + 30
            while len(_fires(migrated_url)) < before + fires and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(LEAD.total_seconds() + SETTLE_S if fires == 0 else 0.5)
            run.stop_all()
    recorded = _fires(migrated_url)
    print("\nfires recorded:", *(f"{entry} {nominal.isoformat()}" for entry, nominal in recorded))
    assert sorted(recorded) == [
        ("berlin-0230", datetime(2027, 3, 28, 1, 0, tzinfo=UTC)),
        ("berlin-0230", datetime(2027, 10, 31, 0, 30, tzinfo=UTC)),
        ("berlin-hourly", datetime(2027, 3, 28, 1, 0, tzinfo=UTC)),
        ("berlin-hourly", datetime(2027, 10, 31, 1, 0, tzinfo=UTC)),
    ]
