"""Consumer metrics: a Prometheus endpoint and a structlog progress line every few seconds.

Counters count a batch at its commit (store_batch's ``on_stored``, in the writer thread), so
they never trail what PostgreSQL holds. The rate gauge is the messages handled over the last
RATE_WINDOW_S, worked out when scraped, so it falls to 0 when the source goes quiet; over
longer spans use ``rate(tuskflow_consumer_events_total[1m])`` (README, Stream consumers).
"""

import threading
import time
from collections import deque

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tuskflow.config.metrics_server import serve_metrics
from tuskflow.eventstore.records import SourceProgress
from tuskflow.workers.ingest import BatchOutcome

log = structlog.get_logger(__name__)
RATE_WINDOW_S = 10.0


class ConsumerMetrics:
    """Events stored, duplicates, dead letters, batch latency and lag of one consumer process."""

    def __init__(self, source: str, *, progress_every_s: float = 10.0) -> None:
        self.source = source
        self.registry = CollectorRegistry()
        self.events = Counter(
            "tuskflow_consumer_events",
            "Messages handled, by outcome (new, duplicate, dead_letter)",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "tuskflow_consumer_batch_seconds",
            "Time to map and store one batch in PostgreSQL",
            ["source"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "tuskflow_consumer_lag",
            "Messages not yet stored: Kafka lag per partition, Redis pending entries",
            ["source", "partition"],
            registry=self.registry,
        )
        self.retries = Counter(
            "tuskflow_consumer_retries",
            "Batches retried after a PostgreSQL or broker outage",
            ["source"],
            registry=self.registry,
        )
        self.rate = Gauge(
            "tuskflow_consumer_events_per_second",
            f"Messages handled per second over the last {RATE_WINDOW_S:g} s, all outcomes",
            ["source"],
            registry=self.registry,
        )
        self._recent = _RecentCounts(RATE_WINDOW_S)
        self.rate.labels(source).set_function(self._recent.per_second)
        self._progress_every_s = progress_every_s
        self._window_started = time.monotonic()
        self._window_events = 0

    def serve(self, port: int) -> None:
        """Expose the metrics on http://0.0.0.0:<port>/metrics; ConfigError if it cannot."""
        # Before the consumer joins its group: a refusal takes nothing.
        serve_metrics(self.registry, port, "the consumer's")
        log.info("metrics.serving", port=port)

    def batch(self, outcome: BatchOutcome, progress: SourceProgress | None = None) -> None:
        """Count one stored batch (an OnStored: ``progress`` is the consumer's, for its lag),
        and log progress when a window has passed."""
        self._recent.add(outcome.new + outcome.duplicates + outcome.dead)
        self.events.labels(self.source, "new").inc(outcome.new)
        self.events.labels(self.source, "duplicate").inc(outcome.duplicates)
        self.events.labels(self.source, "dead_letter").inc(outcome.dead)
        self.batch_seconds.labels(self.source).observe(outcome.seconds)
        self._window_events += outcome.new + outcome.duplicates + outcome.dead
        elapsed = time.monotonic() - self._window_started
        if elapsed >= self._progress_every_s:
            log.info(
                "consumer.progress",
                events_per_s=round(self._window_events / elapsed, 1),
                last_batch_ms=round(outcome.seconds * 1000, 1),
                lag=self.total_lag(),
            )
            self._window_started, self._window_events = time.monotonic(), 0

    def handled(self, outcome: str) -> int:
        """Messages handled so far with ``outcome`` (new, duplicate or dead_letter)."""
        for metric in self.events.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total") and sample.labels["outcome"] == outcome:
                    return int(sample.value)
        return 0

    def set_lag(self, partition: str, value: int) -> None:
        """Record how far behind one partition (or a Redis group) is."""
        self.lag.labels(self.source, partition).set(max(value, 0))

    def total_lag(self) -> int:
        """Lag summed over partitions."""
        total = 0.0
        for metric in self.lag.collect():
            total += sum(sample.value for sample in metric.samples)
        return int(total)

    def retry(self) -> None:
        """Count one retry after an outage."""
        self.retries.labels(self.source).inc()


class _RecentCounts:
    """Counts added over the last ``window_s`` seconds, from any thread."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._lock = threading.Lock()
        self._counts: deque[tuple[float, int]] = deque()

    def add(self, count: int) -> None:
        """Record ``count`` now."""
        with self._lock:
            self._counts.append((time.monotonic(), count))
            self._forget_old(time.monotonic())

    def per_second(self) -> float:
        """What was added in the window, per second of it."""
        with self._lock:
            self._forget_old(time.monotonic())
            return sum(count for _, count in self._counts) / self.window_s

    def _forget_old(self, now: float) -> None:
        while self._counts and self._counts[0][0] < now - self.window_s:
            self._counts.popleft()
