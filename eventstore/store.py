"""The event store port: what the PostgreSQL and in-memory stores both offer.

Contract, for every implementation:
- ``append`` is all or nothing. With an expected version that does not match, it raises
  VersionConflictError and consumes no global position. Re-appending events whose event_ids
  are all stored, with the same stream, type and data, returns their original positions.
- ``append_batch`` writes many streams at once with any expected version; a batch item whose
  event_id is stored (or repeated earlier in the batch) comes back as a duplicate, or as
  rejected when its content differs.
- ``append_streams`` appends to several streams, each with its expected version, all or nothing.
  Idempotency is checked first: when every event_id is stored with the same stream, type and
  data, it returns the original positions even if the expected versions are stale now (a
  writer whose commit reply was lost retries with the versions it had). Otherwise a stream not
  at its expected version raises VersionConflictError and no global position is consumed.
  Stream rows are locked in stream-id order before the commit-order lock: no deadlock.
- ``save_snapshot`` keeps a snapshot unless one of a later version and the same schema is kept.
- ``read_all`` returns events in global order, and global order is commit order: a reader that
  has seen position N will never later find a newly committed event below N.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from tuskflow.eventstore.records import (
    ANY,
    Appended,
    BatchResult,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
    Snapshot,
    SnapshotDue,
    StoreStats,
    StreamEvent,
)


class EventStore(Protocol):
    """Append-only, versioned streams with a global order, snapshots and checkpoints."""

    def append(
        self, stream_id: str, events: Sequence[NewEvent], expected: ExpectedVersion = ANY
    ) -> list[Appended]:
        """Append to one stream with optimistic concurrency; idempotent by event_id."""

    def append_streams(
        self, requests: Mapping[str, tuple[ExpectedVersion, Sequence[NewEvent]]]
    ) -> dict[str, list[Appended]]:
        """Append to several streams, each at its expected version, all or nothing."""

    def append_batch(self, items: Sequence[StreamEvent]) -> BatchResult:
        """Append to many streams in one transaction, skipping stored event_ids."""

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
        """Events of one stream from a version, forwards (up to ``to_version``) or backwards,
        bounded in position/time."""

    def read_all(
        self,
        after: int = 0,
        *,
        limit: int = 1000,
        event_types: Sequence[str] | None = None,
        category: str | None = None,
        to_position: int | None = None,
    ) -> list[RecordedEvent]:
        """Events after a global position (up to ``to_position``), in global order, filtered by
        type or stream prefix."""

    def stream_version(self, stream_id: str) -> int:
        """The stream's current version; 0 when it has no events."""

    def head(self) -> int:
        """The highest committed global position; 0 for an empty store."""

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep the snapshot unless a later one of the same stream is kept already."""

    def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The latest snapshot of a stream."""

    def snapshots_due(
        self, category: str, every: int, schema: int, *, after: str = "", limit: int = 1000
    ) -> list[SnapshotDue]:
        """Streams of ``category`` (after ``after``, in stream-id order) that are ``every`` or
        more events past their snapshot; a snapshot of another ``schema`` counts as none."""

    def checkpoint(self, name: str) -> int:
        """The last global position a subscription or projection processed; 0 at first."""

    def save_checkpoint(self, name: str, position: int) -> None:
        """Record progress; a checkpoint never moves backwards."""

    def stats(self) -> StoreStats:
        """Counts of what the store holds."""
