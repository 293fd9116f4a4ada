"""Snapshot runs: each registered aggregate type's streams that are its policy's number of
events past their last usable snapshot get a new one, and each run is recorded in the store.

A run is stream ``snapshotrun-<run id>``: SnapshotRunStarted, then SnapshotRunFinished with
what it snapshotted, what failed and how long it took. Event ids derive from the run id, so a
run delivered again (its task redelivered) whose end is recorded returns that record and does
nothing; one that died midway runs again. Two runs at once leave the same snapshots: a save
keeps a snapshot only over an older one, and each run takes what the other has not yet.
A stream whose aggregate fails to load or snapshot is recorded with the error and the run goes
on; an outage (a retryable error) ends the run, to be run again.
"""

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from tuskflow.config.errors import RetryableError
from tuskflow.eventstore.aggregate import Aggregate, AggregateRepository
from tuskflow.eventstore.errors import DuplicateEventError
from tuskflow.eventstore.records import NewEvent, SnapshotDue
from tuskflow.eventstore.store import EventStore

RUN_PREFIX = "snapshotrun-"
STARTED, FINISHED = "SnapshotRunStarted", "SnapshotRunFinished"
_IDS = uuid.UUID("8f7c2b64-1d3e-4a59-b0c7-736e61707368")
# Stream ids a run's record names, at most: the counts are always whole.
RECORDED_STREAMS = 1000
_PAGE = 500

Progress = Callable[[str, int], object]  # category, streams snapshotted so far in it


@dataclass(frozen=True)
class SnapshotPolicy:
    """Streams of ``category`` are snapshotted with ``aggregate`` every ``every`` events."""

    category: str
    aggregate: type[Aggregate]
    every: int

    def describe(self) -> dict[str, Any]:
        """The policy as JSON."""
        aggregate = f"{self.aggregate.__module__}:{self.aggregate.__qualname__}"
        return {"category": self.category, "aggregate": aggregate, "every": self.every}


@dataclass
class CategoryOutcome:
    """What a run did in one category."""

    category: str
    every: int
    due: int = 0
    snapshotted: int = 0
    failed: int = 0


@dataclass
class SnapshotRun:
    """One run's record: per category, the streams snapshotted and those that failed."""

    run_id: str
    categories: list[CategoryOutcome] = field(default_factory=list)
    snapshotted: list[dict[str, Any]] = field(default_factory=list)  # {stream, version}
    failures: list[dict[str, str]] = field(default_factory=list)  # {stream, error}
    seconds: float = 0.0
    recorded_before: bool = False  # True: this run's end was recorded by an earlier delivery

    def to_data(self) -> dict[str, Any]:
        """The SnapshotRunFinished data."""
        data = asdict(self)
        data.pop("recorded_before")
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> "SnapshotRun":
        """A run from its SnapshotRunFinished data."""
        categories = [CategoryOutcome(**outcome) for outcome in data["categories"]]
        return cls(
            data["run_id"],
            categories,
            list(data["snapshotted"]),
            list(data["failures"]),
            data["seconds"],
            recorded_before=True,
        )


def run_stream(run_id: str) -> str:
    """The stream that records a snapshot run."""
    return f"{RUN_PREFIX}{run_id}"


def run_snapshots(
    store: EventStore,
    policies: list[SnapshotPolicy],
    run_id: str,
    progress: Progress | None = None,
) -> SnapshotRun:
    """Snapshot every due stream of each policy's category, recorded as run ``run_id``."""
    stream = run_stream(run_id)
    recorded = _finished(store, stream)
    if recorded is not None:
        return recorded
    started = {"run_id": run_id, "policies": [policy.describe() for policy in policies]}
    store.append(stream, [NewEvent(STARTED, started, {}, _event_id(run_id, STARTED))])
    began = time.monotonic()
    run = SnapshotRun(run_id)
    for policy in policies:
        run.categories.append(_snapshot_category(store, policy, run, progress))
    run.seconds = round(time.monotonic() - began, 3)
    try:
        store.append(stream, [NewEvent(FINISHED, run.to_data(), {}, _event_id(run_id, FINISHED))])
    except DuplicateEventError:  # a second delivery of this run finished first
        return _finished(store, stream) or run
    return run


def _snapshot_category(
    store: EventStore, policy: SnapshotPolicy, run: SnapshotRun, progress: Progress | None
) -> CategoryOutcome:
    outcome = CategoryOutcome(policy.category, policy.every)
    repository = AggregateRepository(store, policy.aggregate, snapshot_every=policy.every)
    for due in _due(store, policy):
        outcome.due += 1
        try:
            aggregate = repository.load(due.stream_id)
            repository.take_snapshot(aggregate)
        except RetryableError:
            raise
        except Exception as exc:  # the aggregate's own code: anything may go wrong in it
            outcome.failed += 1
            if len(run.failures) < RECORDED_STREAMS:
                error = f"{type(exc).__name__}: {exc}"
                run.failures.append({"stream": due.stream_id, "error": error})
            continue
        outcome.snapshotted += 1
        if len(run.snapshotted) < RECORDED_STREAMS:
            run.snapshotted.append({"stream": due.stream_id, "version": aggregate.version})
        if progress is not None:
            progress(policy.category, outcome.snapshotted)
    return outcome


def _due(store: EventStore, policy: SnapshotPolicy) -> Iterator[SnapshotDue]:
    schema = policy.aggregate.snapshot_schema
    after = ""
    while page := store.snapshots_due(
        policy.category, policy.every, schema, after=after, limit=_PAGE
    ):
        yield from page
        after = page[-1].stream_id


def _finished(store: EventStore, stream: str) -> SnapshotRun | None:
    for event in store.read_stream(stream):
        if event.event_type == FINISHED:
            return SnapshotRun.from_data(dict(event.data))
    return None


def _event_id(run_id: str, kind: str) -> uuid.UUID:
    return uuid.uuid5(_IDS, f"{run_id}/{kind}")
