"""A beat's Prometheus metrics, per schedule entry: last and next fire, fires, skips, misses.

Served on TUSKFLOW_BEAT_METRICS_PORT (``tuskflow beat --metrics-port``) until the monitoring
work gathers every process's metrics in one place. Every beat counts what it did itself: sum
``tuskflow_beat_fires_total`` over beats for the fires of a schedule.
"""

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge

from tuskflow.config.metrics_server import serve_metrics


class BeatMetrics:
    """The counters and gauges of one beat process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.fires = Counter(
            "tuskflow_beat_fires",
            "Fires this beat recorded and sent, by entry and trigger (schedule, manual, backfill)",
            ["entry", "trigger"],
            registry=self.registry,
        )
        self.skips = Counter(
            "tuskflow_beat_skips",
            "Fires recorded skipped, by entry and why (overlap, missed, spec)",
            ["entry", "why"],
            registry=self.registry,
        )
        self.last_fire = Gauge(
            "tuskflow_beat_last_fire_timestamp_seconds",
            "Nominal time of the entry's last fire this beat sent",
            ["entry"],
            registry=self.registry,
        )
        self.next_fire = Gauge(
            "tuskflow_beat_next_fire_timestamp_seconds",
            "Nominal time of the entry's next fire",
            ["entry"],
            registry=self.registry,
        )

    def serve(self, port: int) -> None:
        """Expose the metrics on http://0.0.0.0:<port>/metrics; ConfigError if it cannot."""
        serve_metrics(self.registry, port, "beat's")

    def fired(self, entry: str, trigger: str, nominal: datetime) -> None:
        """Count one fire sent."""
        self.fires.labels(entry, trigger).inc()
        self.last_fire.labels(entry).set(nominal.timestamp())

    def skipped(self, entry: str, reason: str) -> None:
        """Count one fire skipped; ``reason``'s first word says why."""
        self.skips.labels(entry, reason.split(":", 1)[0].split(" ", 1)[0]).inc()

    def upcoming(self, entry: str, nominal: datetime | None) -> None:
        """Set the entry's next nominal time (0 when it has none left)."""
        self.next_fire.labels(entry).set(nominal.timestamp() if nominal else 0)
