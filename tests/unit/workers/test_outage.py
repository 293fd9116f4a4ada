"""PostgresOutage: retried until stored, reported once per attempt, given up only when stopping."""

import threading

import pytest
import structlog
from structlog.testing import capture_logs

from tuskflow.config.errors import DatabaseRefusedError, DatabaseUnavailableError
from tuskflow.workers.metrics import ConsumerMetrics
from tuskflow.workers.outage import Backoff, PostgresOutage


def _outage() -> PostgresOutage:
    return PostgresOutage(structlog.get_logger("test"), ConsumerMetrics("test-outage"))


def test_an_attempt_is_retried_through_the_outage_with_growing_waits() -> None:
    left = [3]
    waits: list[float] = []

    def attempt() -> str:
        if left[0]:
            left[0] -= 1
            raise DatabaseUnavailableError("PostgreSQL at 127.0.0.1:1/x is unreachable")
        return "stored"

    with capture_logs() as logs:
        result = _outage().until_stored(attempt, threading.Event(), waits.append)

    assert result == "stored"
    assert waits == [0.2, 0.4, 0.8]
    assert [e["event"] for e in logs] == ["postgres.unavailable"] * 3
    assert logs[0]["retry_in_s"] == 0.2


def test_stopping_during_the_outage_gives_up_and_stores_nothing() -> None:
    stop = threading.Event()

    def attempt() -> str:
        stop.set()  # the signal arrives while PostgreSQL is away
        raise DatabaseUnavailableError("server closed the connection")

    with capture_logs() as logs:
        result = _outage().until_stored(attempt, stop, lambda _: None)

    assert result is None
    assert logs[-1]["event"] == "consumer.stopping_with_unstored_batch"


def test_a_permanent_error_is_not_retried() -> None:
    def attempt() -> str:
        raise DatabaseRefusedError("duplicate key value violates unique constraint")

    with pytest.raises(DatabaseRefusedError):
        _outage().until_stored(attempt, threading.Event(), lambda _: None)


def test_backoff_doubles_to_its_ceiling_and_resets() -> None:
    backoff = Backoff(ceiling_s=1.0)

    assert [backoff.next_wait() for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    backoff.reset()
    assert backoff.next_wait() == 0.2
