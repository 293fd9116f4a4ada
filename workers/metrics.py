"""Consumer metrics: a Prometheus endpoint and a structlog progress line every few seconds."""

import time

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from tuskflow.config.errors import ConfigError
from tuskflow.workers.ingest import BatchOutcome

log = structlog.get_logger(__name__)


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
        self._progress_every_s = progress_every_s
        self._window_started = time.monotonic()
        self._window_events = 0

    def serve(self, port: int) -> None:
        """Expose the metrics on http://0.0.0.0:<port>/metrics; ConfigError if it cannot."""
        try:
            start_http_server(port, registry=self.registry)
        except OSError as exc:  # before the consumer joins its group: nothing was taken yet
            raise ConfigError(
                f"cannot serve the consumer's metrics on 0.0.0.0:{port}: {exc.strerror};"
                " choose another --metrics-port, or stop what listens there"
            ) from exc
        log.info("metrics.serving", port=port)

    def batch(self, outcome: BatchOutcome) -> None:
        """Count one stored batch, and log progress when a window has passed."""
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
