"""One batch of source messages into the event store: events, dead letters and source progress
in a single PostgreSQL transaction.

Commit order, for every source: (1) map the messages; (2) in one transaction append the events,
store the dead letters (including batch items the store rejected) and record the source's
progress (``advance``); (3) commit; (4) only then acknowledge to the source (Kafka commit, Redis
XACK). A crash anywhere before (3) leaves nothing; between (3) and (4) the source re-delivers
and the event ids absorb the duplicates.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
import structlog

from eventstore.postgres.append import append_prepared
from eventstore.postgres.connection import configure
from eventstore.postgres.deadletters import record_dead_letters
from eventstore.records import Appended, BatchResult, DeadLetter, Rejected
from eventstore.validation import PreparedEvent
from workers.mapping import MappingSpec, SourceMessage, dead_letter, map_message

Connection = psycopg.Connection[Any]
Advance = Callable[[Connection], bool]
T = TypeVar("T")
log = structlog.get_logger(__name__)


class FencedError(Exception):
    """The source's progress was moved by another consumer: this batch is not ours to write."""


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch did."""

    new: int
    duplicates: int
    dead: int
    seconds: float


def write_batch(
    conn: Connection,
    messages: Sequence[SourceMessage],
    spec: MappingSpec,
    max_bytes: int,
    advance: Advance | None = None,
    extra_letters: Sequence[DeadLetter] = (),
) -> BatchOutcome:
    """Map and store ``messages`` in one transaction; raise FencedError if ``advance`` fails.

    ``extra_letters`` are dead letters the source decided on before mapping (an entry delivered
    too often); they commit in the same transaction.
    """
    started = time.perf_counter()
    events: list[PreparedEvent] = []
    sources: list[SourceMessage] = []
    letters: list[DeadLetter] = list(extra_letters)
    for message in messages:
        mapped = map_message(spec, message, max_bytes)
        if isinstance(mapped, PreparedEvent):
            events.append(mapped)
            sources.append(message)
        else:
            letters.append(mapped)
    with conn.transaction():
        try:
            result = append_prepared(conn, events)
        except _REFUSED as exc:
            # Validation should have caught it; never let one event stop the line.
            log.warning("batch.refused", error=str(exc), action="store events one by one")
            result = _append_one_by_one(conn, events)
        for source, item in zip(sources, result.items, strict=True):
            if isinstance(item, Rejected):
                letters.append(dead_letter(source, item.reason))
        record_dead_letters(conn, letters)
        if advance is not None and not advance(conn):
            raise FencedError("source offsets were moved by another consumer")
    return BatchOutcome(
        new=len(result.new),
        duplicates=len(result.duplicates),
        dead=len(letters),
        seconds=time.perf_counter() - started,
    )


# Worth retrying the same batch: PostgreSQL away, or a transaction it rolled back (a deadlock or
# serialization failure: psycopg's TransactionRollback is an OperationalError too).
RETRYABLE = psycopg.OperationalError
# What PostgreSQL (or the driver, encoding text) refuses for an event's content.
_REFUSED = (psycopg.DataError, UnicodeEncodeError)


def _append_one_by_one(conn: Connection, events: Sequence[PreparedEvent]) -> BatchResult:
    """Each event in its own savepoint: what is refused becomes Rejected with the reason."""
    items: list[Appended | Rejected] = []
    for event in events:
        try:
            items.extend(append_prepared(conn, [event]).items)
        except _REFUSED as exc:
            items.append(Rejected(event.event.event_id, f"PostgreSQL refused the event: {exc}"))
    return BatchResult(tuple(items))


class StoreSession:
    """A consumer's PostgreSQL connection: made on first use, made again after an outage."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._conn: Connection | None = None

    def run(self, work: Callable[[Connection], T]) -> T:
        """``work`` on a live connection; an OperationalError drops it and propagates."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.database_url, autocommit=True, connect_timeout=5)
            configure(self._conn)
        try:
            return work(self._conn)
        except psycopg.OperationalError:
            self._conn.close()
            raise

    def close(self) -> None:
        """Close the connection, if any."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Backoff:
    """Exponential waits for retrying an outage: 0.2 s doubling up to ``ceiling_s``."""

    def __init__(self, ceiling_s: float = 10.0) -> None:
        self.ceiling_s = ceiling_s
        self._next = 0.2

    def next_wait(self) -> float:
        """The wait before the next attempt."""
        wait = self._next
        self._next = min(self._next * 2, self.ceiling_s)
        return wait

    def reset(self) -> None:
        """Back to short waits after a success."""
        self._next = 0.2
