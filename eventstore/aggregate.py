"""Event-sourced aggregates: state changes only by applying events, saved with expected version."""

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar, Generic, TypeVar

from tuskflow.eventstore.records import NO_STREAM, Appended, JsonObject, NewEvent, Snapshot
from tuskflow.eventstore.store import EventStore
from tuskflow.eventstore.upcasting import Upcaster

_PAGE = 1000


class Aggregate(ABC):
    """Base for an aggregate: ``apply`` folds one event into state; ``record`` adds a new one.

    ``version`` counts every event applied, recorded ones included; ``pending`` holds the
    recorded ones not yet saved; ``snapshot_version`` is the version of the snapshot it was
    loaded from or last saved (0 for none).
    """

    # Bump when snapshot_state's shape changes: older snapshots are then ignored, not misread.
    snapshot_schema: ClassVar[int] = 1

    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        self.version = 0
        self.snapshot_version = 0
        self._pending: list[NewEvent] = []

    @abstractmethod
    def apply(self, event_type: str, data: JsonObject) -> None:
        """Change state by one event; never fails for an event that was recorded."""

    def snapshot_state(self) -> JsonObject:
        """The state as JSON, for snapshots; aggregates that snapshot override this."""
        raise NotImplementedError(f"{type(self).__name__} does not take snapshots")

    def restore(self, state: JsonObject) -> None:
        """Set state from ``snapshot_state`` output; aggregates that snapshot override this."""
        raise NotImplementedError(f"{type(self).__name__} does not take snapshots")

    def record(
        self,
        event_type: str,
        data: JsonObject,
        *,
        metadata: JsonObject | None = None,
        event_id: uuid.UUID | None = None,
    ) -> None:
        """Apply a new event and keep it to be saved."""
        self.apply(event_type, data)
        self.version += 1
        self._pending.append(NewEvent(event_type, data, metadata or {}, event_id or uuid.uuid4()))

    @property
    def pending(self) -> tuple[NewEvent, ...]:
        """Recorded events not yet saved."""
        return tuple(self._pending)

    def mark_saved(self) -> None:
        """Forget the pending events once they are stored."""
        self._pending.clear()


A = TypeVar("A", bound=Aggregate)


class AggregateRepository(Generic[A]):
    """Loads aggregates from their streams (via the latest snapshot) and saves new events.

    With ``snapshot_every=N`` a save that leaves N or more events after the aggregate's last
    snapshot saves a new one, so a load reads the snapshot plus fewer than about N events, even
    when other writers append to the stream without loading it.
    """

    def __init__(
        self,
        store: EventStore,
        factory: Callable[[str], A],
        *,
        snapshot_every: int | None = None,
        upcaster: Upcaster | None = None,
    ) -> None:
        if snapshot_every is not None and snapshot_every < 1:
            raise ValueError("snapshot_every must be at least 1")
        self.store = store
        self.factory = factory
        self.snapshot_every = snapshot_every
        self.upcaster = upcaster or Upcaster()

    def load(
        self,
        stream_id: str,
        *,
        as_of_position: int | None = None,
        as_of_time: datetime | None = None,
    ) -> A:
        """The aggregate now, or as it was at a global position or a point in time."""
        aggregate = self.factory(stream_id)
        historical = as_of_position is not None or as_of_time is not None
        if not historical:
            self._restore_snapshot(aggregate)
        while True:
            events = self.store.read_stream(
                stream_id,
                aggregate.version + 1,
                limit=_PAGE,
                to_position=as_of_position,
                until=as_of_time,
            )
            for event in events:
                current = self.upcaster.upcast(event)
                aggregate.apply(current.event_type, current.data)
                aggregate.version = event.stream_version
            if len(events) < _PAGE:
                return aggregate

    def save(self, aggregate: A) -> list[Appended]:
        """Append the pending events expecting the version they were recorded on."""
        pending = aggregate.pending
        if not pending:
            return []
        base = aggregate.version - len(pending)
        appended = self.store.append(aggregate.stream_id, pending, base if base > 0 else NO_STREAM)
        aggregate.mark_saved()
        every = self.snapshot_every
        if every is not None and aggregate.version - aggregate.snapshot_version >= every:
            self.take_snapshot(aggregate)
        return appended

    def take_snapshot(self, aggregate: A) -> None:
        """Save the aggregate's saved state as its stream's snapshot."""
        if aggregate.pending:
            raise ValueError("save the pending events before taking a snapshot")
        self.store.save_snapshot(
            Snapshot(
                aggregate.stream_id,
                aggregate.version,
                {"schema": aggregate.snapshot_schema, "state": aggregate.snapshot_state()},
            )
        )
        aggregate.snapshot_version = aggregate.version

    def _restore_snapshot(self, aggregate: A) -> None:
        if self.snapshot_every is None:
            return
        snapshot = self.store.load_snapshot(aggregate.stream_id)
        if snapshot is None or snapshot.state.get("schema") != aggregate.snapshot_schema:
            return
        aggregate.restore(snapshot.state["state"])
        aggregate.version = aggregate.snapshot_version = snapshot.stream_version
