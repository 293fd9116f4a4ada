"""A beat's ticks on an in-memory store with a driven clock: each fire sent once by however
many beats, each missed and overlap policy doing what it says, an unsent fire taken over."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tuskflow.eventstore import InMemoryEventStore
from tuskflow.jobs.history import JobHistory
from tuskflow.scheduler.fire_ledger import Fire, FireLedger, JobToStart, stream_of
from tuskflow.scheduler.firing import Firing, FiringPolicy, jitter_of
from tuskflow.scheduler.schedule_file import MaintenanceTask, ScheduleEntry, ScheduleFile

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
POLICY = FiringPolicy(late_after=timedelta(seconds=5), idle_grace=timedelta(seconds=30))


@pytest.fixture
def job(tmp_path: Path) -> Path:
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    spec = tmp_path / "tiny.yaml"
    spec.write_text(
        f"version: 1\nname: tiny\nsource: {{format: csv, path: {tmp_path / 'data.csv'}}}\n"
        f"sink: {{kind: parquet, path: {tmp_path / 'out'}}}\n"
    )
    return spec


def _entry(job: Path, **rule: Any) -> ScheduleEntry:
    return ScheduleEntry.model_validate({"id": "e", "job": job, "overlap": "allow", **rule})


class Beat:
    """A Firing with what it sent counted."""

    def __init__(self, store: InMemoryEventStore, entry: ScheduleEntry, name: str) -> None:
        self.sent: list[Fire] = []
        self.firing = Firing(
            ScheduleFile(entries=[entry]),
            FireLedger(store),
            JobHistory(store),
            self.sent.append,
            name,
            POLICY,
        )

    def tick(self, now: datetime) -> float:
        return self.firing.tick(now)


def _skips(store: InMemoryEventStore) -> list[str]:
    return [
        e.data["reason"] for e in store.read_stream(stream_of("e")) if e.event_type == "FireSkipped"
    ]


def test_three_beats_ticking_one_schedule_send_each_fire_once(job: Path) -> None:
    store = InMemoryEventStore()
    entry = _entry(job, every="1s")
    beats = [Beat(store, entry, f"beat-{i}") for i in range(3)]
    for beat in beats:
        beat.tick(T0)

    for step in range(1, 61):
        for offset, beat in enumerate(beats):  # each wakes a little apart, as processes do
            beat.tick(T0 + timedelta(seconds=step, milliseconds=10 * offset))

    sent = Counter(fire.nominal for beat in beats for fire in beat.sent)
    expected = [T0 + timedelta(seconds=s) for s in range(1, 61)]
    assert sent == dict.fromkeys(expected, 1)


@pytest.mark.parametrize(
    ("policy", "sent_after"),
    [
        ("skip", [100]),
        ("latest", [90, 100]),
        ("all", [50, 60, 70, 80, 90, 100]),
    ],
)
def test_a_beat_back_after_missed_fires_does_what_its_policy_says(
    job: Path, policy: str, sent_after: list[int]
) -> None:
    store = InMemoryEventStore()
    entry = _entry(job, every="10s", missed={"policy": policy, "max_count": 5})
    beat = Beat(store, entry, "beat")
    beat.tick(T0)

    beat.tick(T0 + timedelta(seconds=101))  # away for ten fires; the last is 1 s late

    assert [(f.nominal - T0).seconds for f in beat.sent] == sent_after
    assert _skips(store) == (["missed: skip (9)"] if policy == "skip" else [])


def test_a_new_beat_resumes_where_the_ledger_stopped_not_from_the_beginning(job: Path) -> None:
    store = InMemoryEventStore()
    entry = _entry(job, every="10s", missed={"policy": "all", "max_count": 3})
    first = Beat(store, entry, "first")
    first.tick(T0)
    first.tick(T0 + timedelta(seconds=10))

    second = Beat(store, entry, "second")
    second.tick(T0 + timedelta(seconds=31))

    assert [(f.nominal - T0).seconds for f in first.sent + second.sent] == [10, 20, 30]


def test_overlap_skip_records_the_fire_skipped_while_the_previous_job_runs(job: Path) -> None:
    store = InMemoryEventStore()
    beat = Beat(store, _entry(job, every="10s", overlap="skip"), "beat")
    beat.tick(T0)

    beat.tick(T0 + timedelta(seconds=10))
    beat.tick(T0 + timedelta(seconds=20))

    assert [(f.nominal - T0).seconds for f in beat.sent] == [10]
    [reason] = _skips(store)
    assert reason == f"overlap: job {beat.sent[0].job_id} of the previous fire is still submitted"


def test_overlap_cancel_previous_cancels_the_running_job_and_fires(job: Path) -> None:
    store = InMemoryEventStore()
    history = JobHistory(store)
    beat = Beat(store, _entry(job, every="10s", overlap="cancel_previous"), "beat")
    beat.tick(T0)

    beat.tick(T0 + timedelta(seconds=10))
    beat.tick(T0 + timedelta(seconds=20))

    first, second = beat.sent
    assert history.load(first.job_id).status == "cancelled"
    assert history.load(second.job_id).status == "submitted"


def test_a_fire_left_unsent_by_a_killed_beat_is_sent_once_by_another(job: Path) -> None:
    # The store stamps recorded_at with the wall clock: the driven clock starts from it.
    store, now = InMemoryEventStore(), datetime.now(UTC).replace(microsecond=0)
    entry = _entry(job, every="1h")
    killed = FireLedger(store).record("e", now, "schedule", JobToStart("tiny", "{}"))
    assert killed is not None
    beats = [Beat(store, entry, f"beat-{i}") for i in range(2)]

    for beat in beats:
        beat.tick(now + timedelta(seconds=10))  # within the grace: its beat may still send it
    for beat in beats:
        beat.tick(now + timedelta(seconds=31))

    assert [fire for beat in beats for fire in beat.sent] == [killed]


def test_a_job_spec_broken_after_start_makes_the_fire_a_skip_with_the_reason(
    job: Path,
) -> None:
    store = InMemoryEventStore()
    beat = Beat(store, _entry(job, every="10s"), "beat")
    beat.tick(T0)
    job.write_text("version: 1\nname: broken\n")

    beat.tick(T0 + timedelta(seconds=10))

    assert beat.sent == []
    [reason] = _skips(store)
    assert reason.startswith(f"job spec {job} is invalid: the job spec is invalid")


def test_jitter_delays_each_fire_the_same_for_every_beat_within_its_bound(job: Path) -> None:
    entry = _entry(job, every="10s", jitter="4s")
    delays = [jitter_of(entry, T0 + timedelta(seconds=10 * i)) for i in range(50)]

    assert delays == [jitter_of(entry, T0 + timedelta(seconds=10 * i)) for i in range(50)]
    assert all(timedelta(0) <= d < timedelta(seconds=4) for d in delays)
    assert len(set(delays)) > 40


def test_the_sleep_until_the_next_fire_includes_its_jitter(job: Path) -> None:
    store = InMemoryEventStore()
    entry = _entry(job, every="10s", jitter="4s")
    beat = Beat(store, entry, "beat")

    sleep = beat.tick(T0 + timedelta(seconds=1))

    due = T0 + timedelta(seconds=10) + jitter_of(entry, T0 + timedelta(seconds=10))
    assert sleep == min((due - T0 - timedelta(seconds=1)).total_seconds(), POLICY.max_sleep_s)


def test_overlap_buffer_one_holds_one_fire_until_the_previous_job_ends(job: Path) -> None:
    store = InMemoryEventStore()
    history = JobHistory(store)
    beat = Beat(store, _entry(job, every="10s", overlap="buffer_one"), "beat")
    beat.tick(T0)
    beat.tick(T0 + timedelta(seconds=10))
    first = beat.sent[0]

    beat.tick(T0 + timedelta(seconds=20))  # held
    beat.tick(T0 + timedelta(seconds=30))  # 20 still held, 30 skipped
    history.cancel(first.job_id, "ended for the test")
    beat.tick(T0 + timedelta(seconds=31))

    assert [(f.nominal - T0).seconds for f in beat.sent] == [10, 20]
    [reason] = _skips(store)
    assert reason.endswith("is still submitted and one fire is held already")


def test_a_paused_entry_fires_nothing_and_on_resume_follows_its_missed_policy(
    job: Path,
) -> None:
    store = InMemoryEventStore()
    ledger = FireLedger(store)
    beat = Beat(store, _entry(job, every="10s", missed={"policy": "latest"}), "beat")
    beat.tick(T0)
    beat.tick(T0 + timedelta(seconds=10))
    ledger.pause("e", "upstream is late today")

    for step in (20, 30, 40, 50):
        beat.tick(T0 + timedelta(seconds=step))
    sent_while_paused = len(beat.sent)
    ledger.resume("e")
    beat.tick(T0 + timedelta(seconds=61))

    assert sent_while_paused == 1
    assert [(f.nominal - T0).seconds for f in beat.sent] == [10, 50, 60]
    assert ledger.fires("e").paused is None


def test_a_short_pause_resumes_without_a_catch_up_storm(job: Path) -> None:
    store = InMemoryEventStore()
    ledger = FireLedger(store)
    beat = Beat(store, _entry(job, every="1s", missed={"policy": "latest"}), "beat")
    beat.tick(T0)
    ledger.pause("e", "a moment")

    for step in range(1, 9):  # eight fires pass, each well within late_after (5 s here)
        beat.tick(T0 + timedelta(seconds=step, milliseconds=500))
    ledger.resume("e")
    beat.tick(T0 + timedelta(seconds=9, milliseconds=100))

    assert [(f.nominal - T0).seconds for f in beat.sent] == [8, 9]


def test_the_metrics_count_fires_and_skips_and_show_the_next_fire(job: Path) -> None:
    store = InMemoryEventStore()
    beat = Beat(store, _entry(job, every="10s", overlap="skip"), "beat")
    beat.tick(T0)
    beat.tick(T0 + timedelta(seconds=10))
    beat.tick(T0 + timedelta(seconds=20))  # skipped: the first job never ends here
    registry = beat.firing.metrics.registry

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"entry": "e", **labels})

    assert sample("tuskflow_beat_fires_total", trigger="schedule") == 1
    assert sample("tuskflow_beat_skips_total", why="overlap") == 1
    assert (
        sample("tuskflow_beat_last_fire_timestamp_seconds")
        == (T0 + timedelta(seconds=10)).timestamp()
    )
    assert (
        sample("tuskflow_beat_next_fire_timestamp_seconds")
        == (T0 + timedelta(seconds=30)).timestamp()
    )


def test_maintenance_entries_fire_their_task_once_with_no_job_and_no_overlap_check() -> None:
    store = InMemoryEventStore()
    entries = [
        ScheduleEntry.model_validate(
            {"id": "snap", "every": "1s", "snapshot": {"category": "job-"}}
        ),
        ScheduleEntry.model_validate({"id": "arch", "every": "1s", "archive": "export"}),
    ]
    sent: list[Fire] = []
    beats = [
        Firing(ScheduleFile(entries=entries), FireLedger(store), JobHistory(store), sent.append, n)
        for n in ("b1", "b2")
    ]
    for step in range(4):
        for beat in beats:
            beat.tick(T0 + timedelta(seconds=step))
    fires = Counter((fire.entry_id, fire.nominal) for fire in sent)
    assert sorted(fires.values()) == [1] * 6  # 3 each after the first tick, none twice
    assert {fire.task for fire in sent if fire.entry_id == "snap"} == {
        MaintenanceTask("tuskflow.snapshots.run", (("category", "job-"),))
    }
    assert {fire.task for fire in sent if fire.entry_id == "arch"} == {
        MaintenanceTask("tuskflow.archive.export")
    }
    assert not [s for s in store.read_all(0, limit=10_000) if s.stream_id.startswith("job-")]
    taken_over = FireLedger(store).fires("snap").last_fire
    assert taken_over is not None
    assert taken_over.task == MaintenanceTask("tuskflow.snapshots.run", (("category", "job-"),))


def test_a_beat_that_stalled_within_late_after_fires_every_fire_it_owes(job: Path) -> None:
    store = InMemoryEventStore()
    entry = _entry(job, every="1s", missed={"policy": "all", "max_count": 3})
    beat = Beat(store, entry, "b")
    beat.firing.policy = FiringPolicy(late_after=timedelta(seconds=30))
    beat.tick(T0)
    beat.tick(T0 + timedelta(seconds=20))  # a 20 s stall: every fire is still on time
    beat.tick(T0 + timedelta(seconds=60))  # 40 s more: 10 late (3 kept) and 30 on time
    nominals = [fire.nominal for fire in beat.sent]
    stalled = [T0 + timedelta(seconds=s) for s in range(1, 21)]
    missed = [T0 + timedelta(seconds=s) for s in range(27, 30)]
    on_time = [T0 + timedelta(seconds=s) for s in range(30, 61)]
    assert nominals == [*stalled, *missed, *on_time]


def test_a_tick_of_many_fires_records_them_in_batches_and_sends_each_once(job: Path) -> None:
    store = InMemoryEventStore()
    entries = [
        ScheduleEntry.model_validate(
            {"id": f"e{n}", "every": "10s", "job": job, "overlap": "allow"}
        )
        for n in range(450)  # three batches: the second and third recorded while one is sent
    ]
    sent: list[Fire] = []
    firing = Firing(
        ScheduleFile(entries=entries), FireLedger(store), JobHistory(store), sent.append, "b"
    )
    firing.tick(T0)
    firing.tick(T0 + timedelta(seconds=10))
    recorded = FireLedger(store)
    recorded.catch_up()
    assert Counter(fire.entry_id for fire in sent) == {f"e{n}": 1 for n in range(450)}
    assert all(recorded.state(f"e{n}").unsent(T0 + timedelta(days=1)) == [] for n in range(450))
