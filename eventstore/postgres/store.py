"""PostgresEventStore: the event store and batch-writing ports on a psycopg connection pool.

Every public method runs inside config.database.database_errors: no psycopg error leaves the
store, only the project's (DatabaseUnavailableError and TransientConflictError are retryable,
DatabaseRefusedError permanent). The internals catch the psycopg errors of their own races
(a unique violation on event_id) before that boundary.
"""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from psycopg_pool import ConnectionPool

from tuskflow.config.database import (
    POOL_TIMEOUT_S,
    RECONNECT_TIMEOUT_S,
    Connection,
    connection_pool,
    database_errors,
)
from tuskflow.eventstore.batch_store import Partition, PreparedBatch
from tuskflow.eventstore.postgres import _append, _batches, _offsets, _streams, queries
from tuskflow.eventstore.records import (
    ANY,
    Appended,
    BatchResult,
    BatchWritten,
    DeadLetter,
    ExpectedVersion,
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
)
from tuskflow.eventstore.validation import DEFAULT_MAX_EVENT_BYTES, PreparedEvent, check_streams

# How long a fail-fast store waits for a connection: a healthy pool lends an idle one at once,
# and a new local one takes a few milliseconds. A slower new one costs one retry of the caller,
# whose backoff (0.2 s) gives the pool time to add it.
_FAST_WAIT_S = 0.05


class PostgresEventStore:
    """The event store in PostgreSQL; owns its pool of autocommit connections. Close it.

    ``role`` names the process in PostgreSQL (application_name ``tuskflow-<role>``). A caller
    with its own backoff (a consumer) passes ``fail_fast``: while PostgreSQL is away a call then
    fails within 50 ms, as a refused connect does, and the next call tries a new connection at
    once instead of waiting out the pool's reconnect delays.
    """

    def __init__(
        self,
        url: str,
        *,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        pool_size: int = 4,
        role: str = "eventstore",
        fail_fast: bool = False,
    ) -> None:
        self.url = url
        self.max_event_bytes = max_event_bytes
        self.pool: ConnectionPool[Any] = connection_pool(
            url,
            role,
            max_size=pool_size,
            timeout_s=_FAST_WAIT_S if fail_fast else POOL_TIMEOUT_S,
            reconnect_timeout_s=0.0 if fail_fast else RECONNECT_TIMEOUT_S,
        )

    def close(self) -> None:
        """Close every connection of the pool."""
        self.pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A pooled connection, with psycopg's errors raised as the project's."""
        with database_errors(self.url), self.pool.connection() as conn:
            yield conn

    def append(
        self, stream_id: str, events: Sequence[NewEvent], expected: ExpectedVersion = ANY
    ) -> list[Appended]:
        """Append to one stream with optimistic concurrency; idempotent by event_id."""
        with self._connection() as conn:
            return _append.append_events(conn, stream_id, events, expected, self.max_event_bytes)

    def append_streams(
        self, requests: Mapping[str, tuple[ExpectedVersion, Sequence[NewEvent]]]
    ) -> dict[str, list[Appended]]:
        """Append to several streams, each at its expected version, all or nothing."""
        parts = check_streams(requests, self.max_event_bytes)
        with self._connection() as conn:
            return _streams.append_streams(conn, parts)

    def append_batch(self, items: Sequence[StreamEvent]) -> BatchResult:
        """Append to many streams in one transaction, skipping stored event_ids."""
        with self._connection() as conn:
            return _append.append_batch(conn, items, self.max_event_bytes)

    def prepare(
        self,
        events: Sequence[PreparedEvent],
        origins: Sequence[LetterOrigin | None] | None = None,
    ) -> PreparedBatch:
        """The batch as COPY text, without I/O; write_batch takes it."""
        return _append.encode_batch(events, origins)

    def write_batch(
        self,
        batch: PreparedBatch,
        dead_letters: Sequence[DeadLetter] = (),
        progress: SourceProgress | None = None,
    ) -> BatchWritten:
        """Store progress, dead letters and events in one transaction (eventstore.batch_store)."""
        with self._connection() as conn:
            return _batches.write_batch(conn, batch, dead_letters, progress)

    def append_batches(self, batches: Iterable[PreparedBatch]) -> int:
        """Append every batch in one transaction, all or nothing; how many events were new."""
        with self._connection() as conn:
            return _batches.append_batches(conn, batches)

    def load_progress(self, group: str, partitions: Iterable[Partition]) -> dict[Partition, int]:
        """The stored next offsets of these partitions; partitions never written are absent."""
        with self._connection() as conn:
            return _offsets.load_offsets(conn, group, partitions)

    def dead_letters(
        self,
        *,
        include_replayed: bool = False,
        limit: int = 100,
        after_id: int = 0,
        matching: LetterFilter | None = None,
    ) -> list[StoredDeadLetter]:
        """Dead letters in the order they first failed, those ``matching`` only if given."""
        with self._connection() as conn:
            return queries.list_dead_letters(
                conn,
                include_replayed=include_replayed,
                limit=limit,
                after_id=after_id,
                matching=matching,
            )

    def replay_dead_letter(
        self, dead_letter_id: int, event: PreparedEvent, origin: LetterOrigin
    ) -> Appended | Rejected:
        """Append a dead letter's event and mark the letter replayed, in one transaction."""
        with self._connection() as conn:
            return _batches.replay_dead_letter(conn, dead_letter_id, event, origin)

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
        with self._connection() as conn:
            return queries.read_stream(
                conn,
                stream_id,
                from_version,
                backwards=backwards,
                limit=limit,
                bounds=queries.StreamBounds(to_position, until, to_version),
            )

    def read_all(
        self,
        after: int = 0,
        *,
        limit: int = 1000,
        event_types: Sequence[str] | None = None,
        category: str | None = None,
        to_position: int | None = None,
    ) -> list[RecordedEvent]:
        """Events after a global position (up to to_position), in commit order."""
        with self._connection() as conn:
            return queries.read_all(
                conn,
                after,
                limit=limit,
                event_types=event_types,
                category=category,
                to_position=to_position,
            )

    def stream_version(self, stream_id: str) -> int:
        """The stream's current version; 0 when it has no events."""
        with self._connection() as conn:
            return queries.stream_version(conn, stream_id)

    def head(self) -> int:
        """The highest committed global position."""
        with self._connection() as conn:
            return queries.head(conn)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep the snapshot unless a later one is kept already."""
        with self._connection() as conn:
            queries.save_snapshot(conn, snapshot)

    def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The latest snapshot of a stream."""
        with self._connection() as conn:
            return queries.load_snapshot(conn, stream_id)

    def snapshots_due(
        self, category: str, every: int, schema: int, *, after: str = "", limit: int = 1000
    ) -> list[SnapshotDue]:
        """Streams of the category ``every`` or more events past their usable snapshot."""
        with self._connection() as conn:
            return queries.snapshots_due(conn, category, every, schema, after, limit)

    def checkpoint(self, name: str) -> int:
        """A subscription's last processed position."""
        with self._connection() as conn:
            return queries.checkpoint(conn, name)

    def save_checkpoint(self, name: str, position: int) -> None:
        """Move a checkpoint forwards."""
        with self._connection() as conn:
            queries.save_checkpoint(conn, name, position)

    def stats(self) -> StoreStats:
        """Counts of what the store holds."""
        with self._connection() as conn:
            return queries.stats(conn)
