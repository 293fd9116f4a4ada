"""One batch of source messages into the event store: events, dead letters and source progress
in a single PostgreSQL transaction.

Commit order, for every source: (1) map the messages; (2) in one transaction append the events,
store the dead letters (including batch items the store rejected) and record the source's
progress (``advance``); (3) commit; (4) only then acknowledge to the source (Kafka commit, Redis
XACK). A crash anywhere before (3) leaves nothing; between (3) and (4) the source re-delivers
and the event ids absorb the duplicates.

Steps (2) and (3) run in a BatchWriter thread while the consumer fetches and maps the next
batch; batches still commit one at a time and in order.
"""

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import psycopg
import structlog

from tuskflow.config.database import configure
from tuskflow.eventstore.postgres.append import (
    EncodedBatch,
    append_encoded,
    append_prepared,
    encode_batch,
)
from tuskflow.eventstore.postgres.deadletters import record_dead_letters
from tuskflow.eventstore.records import Appended, BatchResult, DeadLetter, Rejected
from tuskflow.eventstore.validation import PreparedEvent
from tuskflow.workers.mapping import MappingSpec, SourceMessage, dead_letter, map_message

Connection = psycopg.Connection[Any]
Advance = Callable[[Connection], bool]
T = TypeVar("T")
log = structlog.get_logger(__name__)

# Messages per batch, at most (a batch also closes on time). Larger batches cost PostgreSQL less
# per event: fewer round trips, and each stream's row is bumped once per batch, not once per
# 1,000 events. bench/bench_consumers.py measured 5,000 against 1,000: 10-15% more events/s.
DEFAULT_BATCH_SIZE = 5000


class FencedError(Exception):
    """The source's progress was moved by another consumer: this batch is not ours to write."""


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch did."""

    new: int
    duplicates: int
    dead: int
    seconds: float


@dataclass(frozen=True)
class MappedBatch:
    """A batch mapped and encoded, ready to store: its events, the message each came from, its
    dead letters (those of mapping, and any the source decided on, such as an entry delivered
    too often)."""

    events: EncodedBatch
    sources: list[SourceMessage]
    letters: list[DeadLetter]


def map_batch(
    messages: Sequence[SourceMessage],
    spec: MappingSpec,
    max_bytes: int,
    extra_letters: Sequence[DeadLetter] = (),
) -> MappedBatch:
    """Map every message to an event or a dead letter, and encode the events; nothing is
    written."""
    events: list[PreparedEvent] = []
    sources: list[SourceMessage] = []
    letters = list(extra_letters)
    for message in messages:
        mapped = map_message(spec, message, max_bytes)
        if isinstance(mapped, PreparedEvent):
            events.append(mapped)
            sources.append(message)
        else:
            letters.append(mapped)
    return MappedBatch(encode_batch(events), sources, letters)


def store_batch(conn: Connection, batch: MappedBatch, advance: Advance | None) -> BatchOutcome:
    """Store a mapped batch in one transaction; raise FencedError if ``advance`` fails.

    The source's progress moves first, so a fenced batch writes nothing, and the events go in
    last: the commit-order lock their insert takes is then held only from the COPY to the
    commit, which is what other writers of the store wait for.
    """
    started = time.perf_counter()
    with conn.transaction():
        if advance is not None and not advance(conn):
            raise FencedError("source offsets were moved by another consumer")
        record_dead_letters(conn, batch.letters)
        try:
            result = append_encoded(conn, batch.events)
        except _REFUSED as exc:
            # Validation should have caught it; never let one event stop the line.
            log.warning("batch.refused", error=str(exc), action="store events one by one")
            result = _append_one_by_one(conn, batch.events.events)
        refused = [
            dead_letter(source, item.reason)
            for source, item in zip(batch.sources, result.items, strict=True)
            if isinstance(item, Rejected)
        ]
        record_dead_letters(conn, refused)
    return BatchOutcome(
        new=len(result.new),
        duplicates=len(result.duplicates),
        dead=len(batch.letters) + len(refused),
        seconds=time.perf_counter() - started,
    )


class BatchWriter:
    """Stores one batch at a time in a thread, so that the consumer fetches and maps the next
    batch while PostgreSQL works on this one: on two cores, both are busy at once.

    At most one batch is in flight. The consumer waits for it before it uses the connection
    itself, before it starts the next batch (batches commit in order), and before partitions
    change hands (nothing of a revoked partition is written after the revoke). A consumer
    process shortens the GIL switch interval for it (workers.process).
    """

    def __init__(self, session: "StoreSession") -> None:
        self._session = session
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-writer")
        self._in_flight: Future[BatchOutcome] | None = None

    @property
    def busy(self) -> bool:
        """Whether a batch was started and its outcome not yet taken."""
        return self._in_flight is not None

    def start(self, batch: MappedBatch, advance: Advance | None) -> None:
        """Begin storing ``batch``; the previous outcome must have been taken."""
        if self._in_flight is not None:
            raise RuntimeError("a batch is still in flight: take its outcome first")
        self._in_flight = self._pool.submit(
            self._session.run, partial(store_batch, batch=batch, advance=advance)
        )

    def settle(self) -> None:
        """Wait until the batch in flight is committed or failed; its outcome stays to take."""
        if self._in_flight is not None:
            wait([self._in_flight])

    def outcome(self) -> BatchOutcome:
        """The outcome of the batch in flight, waiting for it; raises what the write raised."""
        if self._in_flight is None:
            raise RuntimeError("no batch in flight")
        in_flight, self._in_flight = self._in_flight, None
        return in_flight.result()

    def close(self) -> None:
        """Wait for the batch in flight, if any, and stop the thread."""
        self._pool.shutdown(wait=True)


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
