"""Snapshot runs on both stores: streams past their policy are snapshotted and the others not,
loads read through the snapshots, a snapshot of another schema is ignored, failures are
recorded while the rest go on, and a run delivered twice or run twice at once is harmless."""

import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from tuskflow.eventstore import Aggregate, AggregateRepository, InMemoryEventStore, NewEvent
from tuskflow.eventstore.postgres.store import PostgresEventStore
from tuskflow.eventstore.records import JsonObject, Snapshot
from tuskflow.eventstore.snapshotting import SnapshotPolicy, run_snapshots, run_stream
from tuskflow.eventstore.store import EventStore


class Meter(Aggregate):
    """Sums readings; a reading of "boom" cannot be folded into a snapshot."""

    snapshot_schema: ClassVar[int] = 2

    def __init__(self, stream_id: str) -> None:
        super().__init__(stream_id)
        self.total = 0
        self.broken = False

    def apply(self, event_type: str, data: JsonObject) -> None:
        if data.get("kwh") == "boom":
            self.broken = True
            return
        self.total += int(data["kwh"])

    def snapshot_state(self) -> JsonObject:
        if self.broken:
            raise ValueError(f"{self.stream_id} holds a reading that is not a number")
        return {"total": self.total}

    def restore(self, state: JsonObject) -> None:
        self.total = int(state["total"])


POLICY = SnapshotPolicy("meter-", Meter, every=10)


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[EventStore]:
    if request.param == "memory":
        yield InMemoryEventStore()
        return
    with PostgresEventStore(request.getfixturevalue("migrated_url")) as postgres:
        yield postgres


def _readings(store: EventStore, stream_id: str, count: int, kwh: object = 1) -> None:
    store.append(stream_id, [NewEvent("Read", {"kwh": kwh}) for _ in range(count)])


def test_streams_past_the_threshold_are_snapshotted_and_the_others_not(store: EventStore) -> None:
    _readings(store, "meter-a", 25)
    _readings(store, "meter-b", 9)
    _readings(store, "meter-c", 10)
    _readings(store, "other-a", 50)
    done = run_snapshots(store, [POLICY], "r1")
    snapshots = {s: store.load_snapshot(s) for s in ("meter-a", "meter-b", "meter-c", "other-a")}
    assert [(o.category, o.due, o.snapshotted, o.failed) for o in done.categories] == [
        ("meter-", 2, 2, 0)
    ]
    assert done.snapshotted == [
        {"stream": "meter-a", "version": 25},
        {"stream": "meter-c", "version": 10},
    ]
    assert {s: (k.stream_version, k.state) if k else None for s, k in snapshots.items()} == {
        "meter-a": (25, {"schema": 2, "state": {"total": 25}}),
        "meter-b": None,
        "meter-c": (10, {"schema": 2, "state": {"total": 10}}),
        "other-a": None,
    }
    _readings(store, "meter-a", 9)
    again = run_snapshots(store, [POLICY], "r2")
    assert again.categories[0].due == 0  # 9 events after the snapshot: not due yet


def test_a_load_reads_through_the_snapshot_a_run_took(store: EventStore) -> None:
    _readings(store, "meter-a", 30, kwh=2)
    run_snapshots(store, [POLICY], "r1")
    _readings(store, "meter-a", 3, kwh=5)
    loaded = AggregateRepository(store, Meter, snapshot_every=10).load("meter-a")
    assert (loaded.total, loaded.version, loaded.snapshot_version) == (75, 33, 30)


def test_a_snapshot_of_another_schema_is_ignored_and_replaced(store: EventStore) -> None:
    _readings(store, "meter-a", 12)
    store.save_snapshot(Snapshot("meter-a", 12, {"schema": 1, "state": {"sum": "old shape"}}))
    loaded = AggregateRepository(store, Meter, snapshot_every=10).load("meter-a")
    done = run_snapshots(store, [POLICY], "r1")
    kept = store.load_snapshot("meter-a")
    assert (loaded.total, loaded.snapshot_version) == (12, 0)  # read from the events
    assert done.categories[0].snapshotted == 1
    assert kept is not None
    assert kept.state == {"schema": 2, "state": {"total": 12}}


def test_a_stream_that_fails_is_recorded_and_the_others_are_snapshotted(
    store: EventStore,
) -> None:
    _readings(store, "meter-a", 10)
    _readings(store, "meter-b", 10, kwh="boom")
    _readings(store, "meter-c", 10)
    done = run_snapshots(store, [POLICY], "r1")
    recorded = [event.event_type for event in store.read_stream(run_stream("r1"))]
    assert done.failures == [
        {"stream": "meter-b", "error": "ValueError: meter-b holds a reading that is not a number"}
    ]
    assert [item["stream"] for item in done.snapshotted] == ["meter-a", "meter-c"]
    assert recorded == ["SnapshotRunStarted", "SnapshotRunFinished"]
    finished = store.read_stream(run_stream("r1"))[-1].data
    assert finished["failures"] == done.failures
    assert finished["categories"] == [
        {"category": "meter-", "every": 10, "due": 3, "snapshotted": 2, "failed": 1}
    ]


def test_a_run_delivered_again_returns_its_record_and_takes_nothing(store: EventStore) -> None:
    _readings(store, "meter-a", 10)
    first = run_snapshots(store, [POLICY], "r1")
    _readings(store, "meter-b", 10)
    second = run_snapshots(store, [POLICY], "r1")
    assert second.recorded_before
    assert second.snapshotted == first.snapshotted
    assert store.load_snapshot("meter-b") is None
    assert len(store.read_stream(run_stream("r1"))) == 2


def test_two_runs_at_once_leave_every_stream_snapshotted_at_its_version(
    store: EventStore,
) -> None:
    for n in range(60):
        _readings(store, f"meter-{n:02d}", 10 + n % 7)
    results = []
    runs = [
        threading.Thread(target=lambda i=i: results.append(run_snapshots(store, [POLICY], f"r{i}")))
        for i in range(2)
    ]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join()
    kept = {n: store.load_snapshot(f"meter-{n:02d}") for n in range(60)}
    assert {n: s.stream_version if s else None for n, s in kept.items()} == {
        n: 10 + n % 7 for n in range(60)
    }
    assert sum(result.categories[0].snapshotted for result in results) >= 60
