"""One batch of source messages into the event store: events, dead letters and source progress
in a single transaction of the store's batch port (eventstore.batch_store).

Commit order, for every source: (1) map the messages and prepare the batch; (2) in one
transaction record the source's progress (``progress``, a compare-and-set), store the dead
letters, and append the events (items the store rejects become dead letters); (3) commit;
(4) only then acknowledge to the source (Kafka commit, Redis XACK). A crash anywhere before (3)
leaves nothing; between (3) and (4) the source re-delivers and the event ids absorb the
duplicates.

Steps (2) and (3) run in a BatchWriter thread while the consumer fetches and maps the next
batch; batches still commit one at a time and in order.
"""

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from typing import Generic, TypeVar

from tuskflow.eventstore.batch_store import BatchStore, PreparedBatch
from tuskflow.eventstore.records import DeadLetter, LetterOrigin, SourceProgress
from tuskflow.eventstore.validation import PreparedEvent
from tuskflow.workers.mapping import MappingSpec, SourceMessage, map_message, origin

# Messages per batch, at most (a batch also closes on time). Larger batches cost PostgreSQL less
# per event: fewer round trips, and each stream's row is bumped once per batch, not once per
# 1,000 events. bench/bench_consumers.py measured 5,000 against 1,000: 10-15% more events/s.
H = TypeVar("H")


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch did."""

    new: int
    duplicates: int
    dead: int
    seconds: float


# Told each batch's outcome and progress right after its commit, in the thread that wrote it.
OnStored = Callable[[BatchOutcome, SourceProgress | None], None]


@dataclass(frozen=True)
class MappedBatch:
    """A batch mapped and prepared for the store, ready to write: its events (each with the
    message it came from, kept as a dead letter if the store rejects the event) and its dead
    letters (those of mapping, and any the source decided on, such as an entry delivered too
    often)."""

    events: PreparedBatch
    letters: list[DeadLetter]


def map_batch(
    store: BatchStore,
    messages: Sequence[SourceMessage],
    spec: MappingSpec,
    max_bytes: int,
    extra_letters: Sequence[DeadLetter] = (),
) -> MappedBatch:
    """Map every message to an event or a dead letter, and prepare the events for ``store``;
    nothing is written."""
    events: list[PreparedEvent] = []
    origins: list[LetterOrigin | None] = []
    letters = list(extra_letters)
    for message in messages:
        mapped = map_message(spec, message, max_bytes)
        if isinstance(mapped, PreparedEvent):
            events.append(mapped)
            origins.append(origin(message))
        else:
            letters.append(mapped)
    return MappedBatch(store.prepare(events, origins), letters)


def store_batch(
    store: BatchStore,
    batch: MappedBatch,
    progress: SourceProgress | None,
    on_stored: OnStored,
) -> BatchOutcome:
    """Write a mapped batch in one transaction; FencedError (nothing stored) if ``progress``
    finds its partitions moved by another consumer.

    ``on_stored`` (the consumer's metrics) is told the outcome and the progress right after the
    commit, in the thread that wrote: counters and lag never trail the store, though the
    consumer takes the outcome only when it next looks (up to a batch timeout later once the
    source has drained).
    """
    started = time.perf_counter()
    written = store.write_batch(batch.events, batch.letters, progress)
    outcome = BatchOutcome(
        new=written.new,
        duplicates=written.duplicates,
        dead=written.dead_letters,
        seconds=time.perf_counter() - started,
    )
    on_stored(outcome, progress)
    return outcome


@dataclass(frozen=True)
class Settled(Generic[H]):
    """A batch the writer is done with: what the consumer held for it (what to acknowledge, what
    to retry) and the write's result."""

    held: H
    future: "Future[BatchOutcome]"

    def result(self) -> BatchOutcome:
        """The outcome; raises what the write raised (FencedError, a RetryableError...)."""
        return self.future.result()


class BatchWriter(Generic[H]):
    """Stores one batch at a time in a thread, so that the consumer fetches and maps the next
    batch while PostgreSQL works on this one: on two cores, both are busy at once.

    At most one batch is in flight, with what the consumer holds for it (``H``: its entry ids,
    its offsets). The consumer takes it before it writes to the store itself, before it starts
    the next batch (batches commit in order), and before partitions change hands. A consumer
    process shortens the GIL switch interval for it (workers.process).
    """

    def __init__(self, store: BatchStore, on_stored: OnStored) -> None:
        self._store = store
        self._on_stored = on_stored
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-writer")
        self._in_flight: Settled[H] | None = None

    @property
    def busy(self) -> bool:
        """Whether a batch was started and not yet taken."""
        return self._in_flight is not None

    def start(self, batch: MappedBatch, progress: SourceProgress | None, held: H) -> None:
        """Begin storing ``batch``; the previous one must have been taken."""
        if self._in_flight is not None:
            raise RuntimeError("a batch is still in flight: take it first")
        write = partial(store_batch, self._store, batch, progress, self._on_stored)
        future = self._pool.submit(write)
        self._in_flight = Settled(held, future)

    def settle(self) -> None:
        """Wait until the batch in flight is committed or failed; it stays to take."""
        if self._in_flight is not None:
            wait([self._in_flight.future])

    def take(self) -> Settled[H] | None:
        """The batch in flight once settled, now the caller's; None if there is none."""
        self.settle()
        taken, self._in_flight = self._in_flight, None
        return taken

    def take_if_stored(self) -> Settled[H] | None:
        """Like take, but only a batch that committed: a failed one stays for the consumer's
        loop, which knows how to retry it."""
        self.settle()
        if self._in_flight is None or self._in_flight.future.exception() is not None:
            return None
        return self.take()

    def close(self) -> None:
        """Wait for the batch in flight, if any, and stop the thread."""
        self._pool.shutdown(wait=True)
