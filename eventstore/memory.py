"""InMemoryEventStore: the same contract as PostgreSQL, in one process, for tests and tools."""

import copy
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from tuskflow.eventstore.errors import DuplicateEventError, VersionConflictError
from tuskflow.eventstore.records import (
    ANY,
    Appended,
    BatchResult,
    ExpectedVersion,
    JsonObject,
    NewEvent,
    RecordedEvent,
    Rejected,
    Snapshot,
    StoreStats,
    StreamEvent,
    describe_expected,
)
from tuskflow.eventstore.validation import (
    DEFAULT_MAX_EVENT_BYTES,
    check_append,
    check_stream_id,
    encode_event,
)


class InMemoryEventStore:
    """Events in lists behind one lock; appends are all or nothing as in PostgreSQL."""

    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self._lock = threading.Lock()
        self._events: list[RecordedEvent] = []
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._by_id: dict[uuid.UUID, RecordedEvent] = {}
        self._snapshots: dict[str, Snapshot] = {}
        self._checkpoints: dict[str, int] = {}

    def append(
        self, stream_id: str, events: Sequence[NewEvent], expected: ExpectedVersion = ANY
    ) -> list[Appended]:
        """Append to one stream with optimistic concurrency; idempotent by event_id."""
        checked_id, code, _ = check_append(stream_id, events, expected, self.max_event_bytes)
        with self._lock:
            stored = [self._by_id[e.event_id] for e in events if e.event_id in self._by_id]
            if stored:
                return self._exact_retry(checked_id, events, stored)
            actual = len(self._streams.get(checked_id, []))
            if code >= 0 and actual != code:
                raise VersionConflictError(checked_id, describe_expected(expected), actual)
            return [self._record(checked_id, event) for event in events]

    def append_batch(self, items: Sequence[StreamEvent]) -> BatchResult:
        """Append to many streams at once, skipping stored event_ids."""
        for item in items:
            encode_event(check_stream_id(item.stream_id), item.event, self.max_event_bytes)
        results: list[Appended | Rejected] = []
        with self._lock:
            for item in items:
                event = item.event
                known = self._by_id.get(event.event_id)
                if known is None:
                    results.append(self._record(item.stream_id, event))
                elif _same(known, item.stream_id, event):
                    results.append(
                        Appended(event.event_id, known.global_position, known.stream_version, True)
                    )
                else:
                    results.append(
                        Rejected(event.event_id, f"event_id {event.event_id} has other content")
                    )
        return BatchResult(tuple(results))

    def read_stream(
        self,
        stream_id: str,
        from_version: int = 1,
        *,
        backwards: bool = False,
        limit: int | None = None,
        to_position: int | None = None,
        until: datetime | None = None,
    ) -> list[RecordedEvent]:
        """Events of one stream from a version, forwards or backwards."""
        with self._lock:
            events = list(self._streams.get(stream_id, []))
        if backwards:
            events = [e for e in reversed(events) if e.stream_version <= from_version]
        else:
            events = [e for e in events if e.stream_version >= from_version]
        if to_position is not None:
            events = [e for e in events if e.global_position <= to_position]
        if until is not None:
            events = [e for e in events if e.recorded_at <= until]
        return events[:limit] if limit is not None else events

    def read_all(
        self,
        after: int = 0,
        *,
        limit: int = 1000,
        event_types: Sequence[str] | None = None,
        category: str | None = None,
    ) -> list[RecordedEvent]:
        """Events after a global position, in global order."""
        with self._lock:
            events = self._events[after:] if after >= 0 else list(self._events)
        found = []
        for event in events:
            if event_types is not None and event.event_type not in event_types:
                continue
            if category is not None and not event.stream_id.startswith(category):
                continue
            found.append(event)
            if len(found) == limit:
                break
        return found

    def stream_version(self, stream_id: str) -> int:
        """The stream's current version; 0 when it has no events."""
        with self._lock:
            return len(self._streams.get(stream_id, []))

    def head(self) -> int:
        """The highest global position."""
        with self._lock:
            return len(self._events)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep the snapshot unless a later one is kept already."""
        with self._lock:
            kept = self._snapshots.get(snapshot.stream_id)
            if kept is None or kept.stream_version < snapshot.stream_version:
                self._snapshots[snapshot.stream_id] = _frozen_copy(snapshot)

    def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The latest snapshot of a stream."""
        with self._lock:
            kept = self._snapshots.get(stream_id)
        return _frozen_copy(kept) if kept is not None else None

    def checkpoint(self, name: str) -> int:
        """A subscription's last processed position."""
        with self._lock:
            return self._checkpoints.get(name, 0)

    def save_checkpoint(self, name: str, position: int) -> None:
        """Move a checkpoint forwards, never backwards."""
        with self._lock:
            self._checkpoints[name] = max(self._checkpoints.get(name, 0), position)

    def stats(self) -> StoreStats:
        """Counts of what the store holds."""
        with self._lock:
            return StoreStats(
                events=len(self._events),
                streams=len(self._streams),
                head_position=len(self._events),
                snapshots=len(self._snapshots),
                dead_letters=0,
                checkpoints=dict(sorted(self._checkpoints.items())),
            )

    def _record(self, stream_id: str, event: NewEvent) -> Appended:
        stream = self._streams.setdefault(stream_id, [])
        recorded = RecordedEvent(
            global_position=len(self._events) + 1,
            stream_id=stream_id,
            stream_version=len(stream) + 1,
            event_id=event.event_id,
            event_type=event.event_type,
            data=_json_copy(event.data),
            metadata=_json_copy(event.metadata),
            recorded_at=datetime.now(UTC),
        )
        self._events.append(recorded)
        stream.append(recorded)
        self._by_id[event.event_id] = recorded
        return Appended(event.event_id, recorded.global_position, recorded.stream_version)

    def _exact_retry(
        self, stream_id: str, events: Sequence[NewEvent], stored: list[RecordedEvent]
    ) -> list[Appended]:
        by_id = {e.event_id: e for e in events}
        if len(stored) != len(events) or not all(
            _same(s, stream_id, by_id[s.event_id]) for s in stored
        ):
            raise DuplicateEventError(
                f"append to {stream_id!r}: some event_ids are stored already (or with other "
                "content); an append must be all new events or an exact retry"
            )
        kept = {s.event_id: s for s in stored}
        return [
            Appended(
                e.event_id, kept[e.event_id].global_position, kept[e.event_id].stream_version, True
            )
            for e in events
        ]


def _same(stored: RecordedEvent, stream_id: str, event: NewEvent) -> bool:
    return (
        stored.stream_id == stream_id
        and stored.event_type == event.event_type
        and stored.data == event.data
    )


def _json_copy(value: JsonObject) -> JsonObject:
    # What PostgreSQL returns is a fresh object; so is what we return.
    return copy.deepcopy(dict(value))


def _frozen_copy(snapshot: Snapshot) -> Snapshot:
    return Snapshot(snapshot.stream_id, snapshot.stream_version, _json_copy(snapshot.state))
