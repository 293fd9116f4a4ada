"""How every ingestor rides out PostgreSQL being away: one place that notices the outage, counts
the retry, logs ``postgres.unavailable`` and waits with backoff before the next attempt.

The consumer keeps what it has not stored in hand (unacknowledged at the source) while it waits,
so an outage of any length loses nothing; what the waiting does (poll Kafka to stay in the group,
or just sleep) is the caller's.
"""

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import structlog

from tuskflow.config.errors import RetryableError
from tuskflow.workers.metrics import ConsumerMetrics

T = TypeVar("T")
# How long a call that must answer (offsets on assignment) is retried before it raises.
ANSWER_DEADLINE_S = 120.0


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


class PostgresOutage:
    """Retries of the store's calls through an outage, reported the same way by every ingestor."""

    def __init__(self, log: structlog.typing.FilteringBoundLogger, metrics: ConsumerMetrics):
        self._log = log
        self._metrics = metrics

    def noticed(self, exc: RetryableError) -> None:
        """The batch writer's thread met the outage; the consumer retries at once, itself."""
        self._report(exc, 0.0)

    def until_stored(
        self, attempt: Callable[[], T], stop: threading.Event, wait: Callable[[float], object]
    ) -> T | None:
        """``attempt()`` once it succeeds; between failures ``wait(seconds)`` with backoff.

        None if ``stop`` is set while PostgreSQL is still away: what the attempt would have
        stored stays unacknowledged at the source, to be delivered again.
        """
        backoff = Backoff()
        while True:
            try:
                return attempt()
            except RetryableError as exc:
                if stop.is_set():
                    self._log.warning("consumer.stopping_with_unstored_batch", error=str(exc))
                    return None
                delay = backoff.next_wait()
                self._report(exc, delay)
                wait(delay)

    def until_answered(self, work: Callable[[], T]) -> T:
        """``work()`` once PostgreSQL answers, for calls that cannot be put off (a rebalance
        callback); raises the last error after ANSWER_DEADLINE_S."""
        backoff, deadline = Backoff(), time.monotonic() + ANSWER_DEADLINE_S
        while True:
            try:
                return work()
            except RetryableError as exc:
                if time.monotonic() > deadline:
                    raise
                delay = backoff.next_wait()
                self._report(exc, delay)
                time.sleep(delay)

    def _report(self, exc: RetryableError, retry_in_s: float) -> None:
        self._metrics.retry()
        self._log.warning("postgres.unavailable", error=str(exc).strip(), retry_in_s=retry_in_s)
