"""BatchWriter: one batch in flight, outcomes taken in order, errors raised to the consumer."""

import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

import psycopg
import pytest

from tuskflow.eventstore.postgres.append import encode_batch
from tuskflow.workers.ingest import BatchOutcome, BatchWriter, MappedBatch, StoreSession

T = TypeVar("T")


class FakeSession(StoreSession):
    """Stands in for PostgreSQL: each write waits for ``gate``, then counts or fails."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        super().__init__("postgresql://unused")
        self.gate = threading.Event()
        self.runs = 0
        self.fail_with = fail_with

    def run(self, work: Callable[[Any], T]) -> T:
        self.gate.wait(5)
        if self.fail_with is not None:
            raise self.fail_with
        self.runs += 1
        return cast(T, BatchOutcome(new=self.runs, duplicates=0, dead=0, seconds=0.0))


def _batch() -> MappedBatch:
    return MappedBatch(encode_batch([]), [], [])


def test_the_outcome_waits_for_the_batch_in_flight() -> None:
    session = FakeSession()
    writer = BatchWriter(session)
    writer.start(_batch(), None)
    assert writer.busy
    assert session.runs == 0  # still in flight: the gate is closed

    session.gate.set()
    outcome = writer.outcome()

    assert outcome.new == 1
    assert not writer.busy
    writer.close()


def test_a_second_batch_is_refused_until_the_first_outcome_is_taken() -> None:
    session = FakeSession()
    session.gate.set()
    writer = BatchWriter(session)
    writer.start(_batch(), None)

    with pytest.raises(RuntimeError, match="still in flight"):
        writer.start(_batch(), None)

    writer.outcome()
    writer.start(_batch(), None)
    assert writer.outcome().new == 2
    writer.close()


def test_what_the_write_raised_is_raised_by_the_outcome() -> None:
    session = FakeSession(fail_with=psycopg.OperationalError("server closed the connection"))
    session.gate.set()
    writer = BatchWriter(session)
    writer.start(_batch(), None)
    writer.settle()

    with pytest.raises(psycopg.OperationalError, match="server closed"):
        writer.outcome()
    assert not writer.busy
    writer.close()
