"""PostgresEventStore: the event store port on a psycopg connection pool."""

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from psycopg_pool import ConnectionPool

from tuskflow.config.database import configure
from tuskflow.eventstore.postgres import append, queries
from tuskflow.eventstore.records import (
    ANY,
    Appended,
    BatchResult,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
    Snapshot,
    StoreStats,
    StreamEvent,
)
from tuskflow.eventstore.validation import DEFAULT_MAX_EVENT_BYTES


class PostgresEventStore:
    """The event store in PostgreSQL; owns its pool of autocommit connections. Close it."""

    def __init__(
        self, url: str, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES, pool_size: int = 4
    ) -> None:
        self.max_event_bytes = max_event_bytes
        self.pool: ConnectionPool[Any] = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True},
            configure=configure,
            open=True,
            name="eventstore",
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

    def append(
        self, stream_id: str, events: Sequence[NewEvent], expected: ExpectedVersion = ANY
    ) -> list[Appended]:
        """Append to one stream with optimistic concurrency; idempotent by event_id."""
        with self.pool.connection() as conn:
            return append.append_events(conn, stream_id, events, expected, self.max_event_bytes)

    def append_batch(self, items: Sequence[StreamEvent]) -> BatchResult:
        """Append to many streams in one transaction, skipping stored event_ids."""
        with self.pool.connection() as conn:
            return append.append_batch(conn, items, self.max_event_bytes)

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
        with self.pool.connection() as conn:
            return queries.read_stream(
                conn,
                stream_id,
                from_version,
                backwards=backwards,
                limit=limit,
                to_position=to_position,
                until=until,
            )

    def read_all(
        self,
        after: int = 0,
        *,
        limit: int = 1000,
        event_types: Sequence[str] | None = None,
        category: str | None = None,
    ) -> list[RecordedEvent]:
        """Events after a global position, in commit order."""
        with self.pool.connection() as conn:
            return queries.read_all(
                conn, after, limit=limit, event_types=event_types, category=category
            )

    def stream_version(self, stream_id: str) -> int:
        """The stream's current version; 0 when it has no events."""
        with self.pool.connection() as conn:
            return queries.stream_version(conn, stream_id)

    def head(self) -> int:
        """The highest committed global position."""
        with self.pool.connection() as conn:
            return queries.head(conn)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep the snapshot unless a later one is kept already."""
        with self.pool.connection() as conn:
            queries.save_snapshot(conn, snapshot)

    def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The latest snapshot of a stream."""
        with self.pool.connection() as conn:
            return queries.load_snapshot(conn, stream_id)

    def checkpoint(self, name: str) -> int:
        """A subscription's last processed position."""
        with self.pool.connection() as conn:
            return queries.checkpoint(conn, name)

    def save_checkpoint(self, name: str, position: int) -> None:
        """Move a checkpoint forwards."""
        with self.pool.connection() as conn:
            queries.save_checkpoint(conn, name, position)

    def stats(self) -> StoreStats:
        """Counts of what the store holds."""
        with self.pool.connection() as conn:
            return queries.stats(conn)
