"""BatchWriter: one batch in flight, outcomes taken in order, errors raised to the consumer."""

import threading
from collections.abc import Sequence

import pytest

from tuskflow.config.errors import DatabaseUnavailableError
from tuskflow.eventstore import InMemoryEventStore
from tuskflow.eventstore.batch_store import PreparedBatch
from tuskflow.eventstore.records import BatchResult, BatchWritten, DeadLetter, SourceProgress
from tuskflow.workers.ingest import BatchOutcome, BatchWriter, MappedBatch


class GatedStore(InMemoryEventStore):
    """Stands in for PostgreSQL: each write waits for ``gate``, then counts or fails."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.runs = 0
        self.fail_with = fail_with

    def write_batch(
        self,
        batch: PreparedBatch,
        dead_letters: Sequence[DeadLetter] = (),
        progress: SourceProgress | None = None,
    ) -> BatchWritten:
        self.gate.wait(5)
        if self.fail_with is not None:
            raise self.fail_with
        self.runs += 1
        return BatchWritten(BatchResult(()), dead_letters=self.runs)


def _uncounted(outcome: BatchOutcome, progress: SourceProgress | None) -> None:
    pass


def _batch() -> MappedBatch:
    return MappedBatch(PreparedBatch([], []), [])


def _taken(writer: BatchWriter[str]) -> tuple[str, int]:
    settled = writer.take()
    assert settled is not None
    return settled.held, settled.result().dead


def test_taking_waits_for_the_batch_in_flight_and_gives_back_what_was_held() -> None:
    store = GatedStore()
    writer: BatchWriter[str] = BatchWriter(store, _uncounted)
    writer.start(_batch(), None, "entries 1-5")
    assert writer.busy
    assert store.runs == 0  # still in flight: the gate is closed

    store.gate.set()

    assert _taken(writer) == ("entries 1-5", 1)
    assert not writer.busy
    assert writer.take() is None
    writer.close()


def test_a_second_batch_is_refused_until_the_first_is_taken() -> None:
    store = GatedStore()
    store.gate.set()
    writer: BatchWriter[str] = BatchWriter(store, _uncounted)
    writer.start(_batch(), None, "first")

    with pytest.raises(RuntimeError, match="still in flight"):
        writer.start(_batch(), None, "second")

    assert _taken(writer) == ("first", 1)
    writer.start(_batch(), None, "second")
    assert _taken(writer) == ("second", 2)
    writer.close()


def test_what_the_write_raised_is_raised_by_the_result_with_the_batch_still_held() -> None:
    store = GatedStore(fail_with=DatabaseUnavailableError("server closed the connection"))
    store.gate.set()
    writer: BatchWriter[str] = BatchWriter(store, _uncounted)
    writer.start(_batch(), None, "to retry")
    settled = writer.take()

    assert settled is not None
    assert settled.held == "to retry"
    with pytest.raises(DatabaseUnavailableError, match="server closed"):
        settled.result()
    assert not writer.busy
    writer.close()


def test_only_a_committed_batch_is_taken_at_a_revoke() -> None:
    failing = GatedStore(fail_with=DatabaseUnavailableError("server closed the connection"))
    failing.gate.set()
    writer: BatchWriter[str] = BatchWriter(failing, _uncounted)
    writer.start(_batch(), None, "failed")

    assert writer.take_if_stored() is None
    assert writer.busy  # left for the consumer's loop, which retries it
    writer.take()
    writer.close()

    committed = GatedStore()
    committed.gate.set()
    writer = BatchWriter(committed, _uncounted)
    writer.start(_batch(), None, "committed")
    settled = writer.take_if_stored()

    assert settled is not None
    assert settled.held == "committed"
    assert not writer.busy
    writer.close()


def test_a_batch_is_counted_when_it_commits_not_when_the_consumer_takes_it() -> None:
    # A drained consumer takes its last batch only after its next fetch times out: counters
    # taken then trailed the store by that batch for up to the batch timeout.
    store, counted = GatedStore(), threading.Event()
    writer: BatchWriter[str] = BatchWriter(store, lambda outcome, progress: counted.set())
    writer.start(_batch(), None, "last")
    assert not counted.wait(0.1)  # not committed yet: not counted

    store.gate.set()

    assert counted.wait(5)
    assert writer.busy  # counted while the consumer has not looked yet
    assert _taken(writer) == ("last", 1)
    writer.close()
