"""InMemoryEventStore: the same contract as PostgreSQL, in one process, for tests and tools."""

import copy
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from tuskflow.eventstore.batch_store import Partition, PreparedBatch, origins_for
from tuskflow.eventstore.errors import (
    DuplicateEventError,
    FencedError,
    RejectedEventsError,
    VersionConflictError,
)
from tuskflow.eventstore.memory_sources import SourceState
from tuskflow.eventstore.records import (
    ANY,
    Appended,
    BatchResult,
    BatchWritten,
    DeadLetter,
    ExpectedVersion,
    JsonObject,
    LetterFilter,
    LetterOrigin,
    NewEvent,
    RecordedEvent,
    Rejected,
    Snapshot,
    SnapshotDue,
    SourceProgress,
    StoredDeadLetter,
    StoreStats,
    StreamEvent,
    describe_expected,
    snapshot_schema_of,
)
from tuskflow.eventstore.validation import (
    DEFAULT_MAX_EVENT_BYTES,
    CheckedAppend,
    PreparedEvent,
    check_append,
    check_stream_id,
    check_streams,
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
        self._sources = SourceState()

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

    def append_streams(
        self, requests: Mapping[str, tuple[ExpectedVersion, Sequence[NewEvent]]]
    ) -> dict[str, list[Appended]]:
        """Append to several streams, each at its expected version, all or nothing."""
        parts = check_streams(requests, self.max_event_bytes)
        with self._lock:
            stored = self._stored_streams(parts)
            if stored is not None:
                return stored
            for part in parts:
                actual = len(self._streams.get(part.stream_id, []))
                if part.code >= 0 and actual != part.code:
                    raise VersionConflictError(
                        part.stream_id, describe_expected(part.expected), actual
                    )
            return {
                part.stream_id: [self._record(part.stream_id, e) for e in part.events]
                for part in parts
            }

    def append_batch(self, items: Sequence[StreamEvent]) -> BatchResult:
        """Append to many streams at once, skipping stored event_ids."""
        for item in items:
            encode_event(check_stream_id(item.stream_id), item.event, self.max_event_bytes)
        with self._lock:
            return self._append_items([(item.stream_id, item.event) for item in items])

    def prepare(
        self,
        events: Sequence[PreparedEvent],
        origins: Sequence[LetterOrigin | None] | None = None,
    ) -> PreparedBatch:
        """The batch as it is (already checked and encoded by validation.prepare)."""
        return PreparedBatch(events, origins_for(events, origins))

    def write_batch(
        self,
        batch: PreparedBatch,
        dead_letters: Sequence[DeadLetter] = (),
        progress: SourceProgress | None = None,
    ) -> BatchWritten:
        """Store progress, dead letters and events at once (eventstore.batch_store)."""
        with self._lock:
            if not self._sources.can_advance(progress):
                raise FencedError("source offsets were moved by another consumer")
            self._sources.advance(progress)
            self._sources.record(dead_letters)
            result = self._append_items([(e.stream_id, e.event) for e in batch.events])
            refused = [
                origin.letter(item.reason)
                for origin, item in zip(batch.origins, result.items, strict=True)
                if isinstance(item, Rejected) and origin is not None
            ]
            self._sources.record(refused)
        return BatchWritten(result, len(dead_letters) + len(refused))

    def append_batches(self, batches: Iterable[PreparedBatch]) -> int:
        """Append every batch at once, all or nothing; how many events were new."""
        items = [(e.stream_id, e.event) for batch in batches for e in batch.events]
        with self._lock:
            rejected = self._rejections(items)
            if rejected:
                raise RejectedEventsError(rejected)
            return len(self._append_items(items).new)

    def load_progress(self, group: str, partitions: Iterable[Partition]) -> dict[Partition, int]:
        """The stored next offsets of these partitions; partitions never written are absent."""
        with self._lock:
            return self._sources.offsets(group, partitions)

    def dead_letters(
        self,
        *,
        include_replayed: bool = False,
        limit: int = 100,
        after_id: int = 0,
        matching: LetterFilter | None = None,
    ) -> list[StoredDeadLetter]:
        """Dead letters in the order they first failed, those ``matching`` only if given."""
        with self._lock:
            return self._sources.letters(
                include_replayed=include_replayed,
                limit=limit,
                after_id=after_id,
                matching=matching or LetterFilter(),
            )

    def replay_dead_letter(
        self, dead_letter_id: int, event: PreparedEvent, origin: LetterOrigin
    ) -> Appended | Rejected:
        """Append a dead letter's event and mark the letter replayed, at once."""
        with self._lock:
            [item] = self._append_items([(event.stream_id, event.event)]).items
            if isinstance(item, Appended):
                self._sources.mark_replayed(dead_letter_id, item.global_position)
            else:
                self._sources.record([origin.letter(item.reason)])
        return item

    def read_stream(
        self,
        stream_id: str,
        from_version: int = 1,
        *,
        backwards: bool = False,
        limit: int | None = None,
        to_position: int | None = None,
        until: datetime | None = None,
        to_version: int | None = None,
    ) -> list[RecordedEvent]:
        """Events of one stream from a version, forwards (up to to_version) or backwards."""
        with self._lock:
            events = list(self._streams.get(stream_id, []))
        if backwards:
            events = [e for e in reversed(events) if e.stream_version <= from_version]
        else:
            last = to_version if to_version is not None else len(events)
            events = [e for e in events if from_version <= e.stream_version <= last]
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
        to_position: int | None = None,
    ) -> list[RecordedEvent]:
        """Events after a global position (up to to_position), in global order."""
        end = to_position if to_position is not None else None
        with self._lock:
            events = self._events[max(after, 0) : end]
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
            if (
                kept is None
                or kept.stream_version < snapshot.stream_version
                or snapshot_schema_of(kept) != snapshot_schema_of(snapshot)
            ):
                self._snapshots[snapshot.stream_id] = _frozen_copy(snapshot)

    def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The latest snapshot of a stream."""
        with self._lock:
            kept = self._snapshots.get(stream_id)
        return _frozen_copy(kept) if kept is not None else None

    def snapshots_due(
        self, category: str, every: int, schema: int, *, after: str = "", limit: int = 1000
    ) -> list[SnapshotDue]:
        """Streams of the category ``every`` or more events past their usable snapshot."""
        with self._lock:
            due = []
            for stream_id in sorted(self._streams):
                if not stream_id.startswith(category) or stream_id <= after:
                    continue
                kept = self._snapshots.get(stream_id)
                usable = kept.stream_version if kept and snapshot_schema_of(kept) == schema else 0
                version = len(self._streams[stream_id])
                if version - usable >= every:
                    due.append(SnapshotDue(stream_id, version, usable))
                if len(due) == limit:
                    break
            return due

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
                dead_letters=self._sources.count(),
                checkpoints=dict(sorted(self._checkpoints.items())),
            )

    def _append_items(self, items: Sequence[tuple[str, NewEvent]]) -> BatchResult:
        results: list[Appended | Rejected] = []
        for stream_id, event in items:
            known = self._by_id.get(event.event_id)
            if known is None:
                results.append(self._record(stream_id, event))
            elif _same(known, stream_id, event):
                results.append(
                    Appended(event.event_id, known.global_position, known.stream_version, True)
                )
            else:
                results.append(
                    Rejected(event.event_id, f"event_id {event.event_id} has other content")
                )
        return BatchResult(tuple(results))

    def _rejections(self, items: Sequence[tuple[str, NewEvent]]) -> list[Rejected]:
        """The items an append would reject, found without writing."""
        seen: dict[uuid.UUID, tuple[str, NewEvent]] = {}
        rejected = []
        for stream_id, event in items:
            known = self._by_id.get(event.event_id)
            first = seen.setdefault(event.event_id, (stream_id, event))
            same_as_first = first[0] == stream_id and (first[1].event_type, first[1].data) == (
                event.event_type,
                event.data,
            )
            if (known is not None and not _same(known, stream_id, event)) or not same_as_first:
                rejected.append(
                    Rejected(event.event_id, f"event_id {event.event_id} has other content")
                )
        return rejected

    def _stored_streams(self, parts: Sequence[CheckedAppend]) -> dict[str, list[Appended]] | None:
        """The original positions of an exact retry; None when no event_id is stored."""
        events = [(part.stream_id, e) for part in parts for e in part.events]
        stored = [self._by_id[e.event_id] for _, e in events if e.event_id in self._by_id]
        if not stored:
            return None
        if len(stored) != len(events) or not all(
            _same(self._by_id[e.event_id], stream_id, e) for stream_id, e in events
        ):
            raise DuplicateEventError(
                "multi-stream append: some event_ids are stored already (or with other "
                "content); it must be all new events or an exact retry"
            )
        kept = self._by_id
        return {
            part.stream_id: [
                Appended(
                    e.event_id,
                    kept[e.event_id].global_position,
                    kept[e.event_id].stream_version,
                    True,
                )
                for e in part.events
            ]
            for part in parts
        }

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
