"""The whole system as Prometheus metrics, one endpoint an operator scrapes:
`tuskflow metrics serve` builds them from `tuskflow status`'s reading (monitoring/status.py) at
each scrape, so they need no state of their own and survive every restart.

Names keep to one namespace, ``tuskflow_``, and to the exporters' conventions: a gauge is a
number now, ``_total`` a counter, ``_timestamp_seconds`` a Unix time, ``_seconds`` a duration.
A process's own counters (a consumer's events, a beat's fires) stay on its ``--metrics-port``.
"""

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from tuskflow.monitoring.status import Buckets, SystemStatus


class SystemCollector(Collector):
    """Reads the system at each scrape and yields it as metric families."""

    def __init__(self, read: Callable[[], SystemStatus]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        """Every family of one reading, then how long the reading took."""
        began = time.perf_counter()
        status = self.read()
        yield from _processes(status)
        yield from _queues(status)
        yield from _jobs(status)
        yield from _consumers(status)
        yield from _schedules(status)
        yield from _store(status)
        unreachable = GaugeMetricFamily(
            "tuskflow_status_unreachable", "Parts the reading could not reach", labels=["part"]
        )
        for problem in status.unreachable:
            unreachable.add_metric([problem.split(":", 1)[0]], 1)
        yield unreachable
        yield GaugeMetricFamily(
            "tuskflow_status_read_seconds",
            "Seconds this scrape took to read the system",
            value=time.perf_counter() - began,
        )


def _processes(status: SystemStatus) -> Iterator[Metric]:
    labels = ["role", "host", "pid"]
    up = GaugeMetricFamily(
        "tuskflow_process_up", "1 while a process's heartbeat is fresh", labels=labels
    )
    age = GaugeMetricFamily(
        "tuskflow_process_heartbeat_age_seconds",
        "Seconds since a process's last heartbeat",
        labels=labels,
    )
    for process in status.processes:
        key = [process.role, process.host, str(process.pid)]
        up.add_metric(key, 0 if process.silent else 1)
        age.add_metric(key, process.heartbeat_age_s)
    yield from (up, age)


def _queues(status: SystemStatus) -> Iterator[Metric]:
    length = GaugeMetricFamily(
        "tuskflow_queue_length", "Messages waiting in a Celery queue", labels=["queue"]
    )
    reserved = GaugeMetricFamily(
        "tuskflow_queue_reserved", "Messages a worker holds unacknowledged", labels=["queue"]
    )
    for queue in status.queues:
        length.add_metric([queue.queue], queue.ready)
        reserved.add_metric([queue.queue], queue.reserved)
    yield from (length, reserved)


def _jobs(status: SystemStatus) -> Iterator[Metric]:
    jobs = GaugeMetricFamily("tuskflow_jobs", "ETL jobs by state", labels=["state"])
    for state in ("submitted", "running", "succeeded", "failed", "cancelled"):
        jobs.add_metric([state], status.jobs_by_state.get(state, 0))
    yield jobs
    for name, help_text, buckets in (
        (
            "tuskflow_job_duration_seconds",
            "ETL job attempts, start to finish",
            status.job_durations,
        ),
        ("tuskflow_job_queue_wait_seconds", "ETL jobs, submit to start", status.queue_waits),
    ):
        if buckets is not None:
            yield _histogram(name, help_text, buckets)


def _histogram(name: str, help_text: str, buckets: Buckets) -> HistogramMetricFamily:
    pairs = [
        (repr(bound), count)
        for bound, count in zip(buckets.bounds, buckets.cumulative, strict=True)
    ]
    return HistogramMetricFamily(
        name, help_text, buckets=[*pairs, ("+Inf", buckets.count)], sum_value=buckets.total
    )


def _consumers(status: SystemStatus) -> Iterator[Metric]:
    kafka = GaugeMetricFamily(
        "tuskflow_consumer_kafka_lag",
        "High watermark minus the next offset stored in PostgreSQL",
        labels=["group", "topic", "partition"],
    )
    for lag in status.kafka:
        if lag.lag is not None:
            kafka.add_metric([lag.group, lag.topic, str(lag.partition)], lag.lag)
    labels = ["stream", "group"]
    pending = GaugeMetricFamily(
        "tuskflow_consumer_redis_pending", "Entries delivered and not acknowledged", labels=labels
    )
    backlog = GaugeMetricFamily(
        "tuskflow_consumer_redis_lag", "Entries after a group's last delivered one", labels=labels
    )
    for group in status.redis_streams:
        pending.add_metric([group.stream, group.group], group.pending)
        backlog.add_metric([group.stream, group.group], group.lag)
    yield from (kafka, pending, backlog)


def _schedules(status: SystemStatus) -> Iterator[Metric]:
    fires = CounterMetricFamily("tuskflow_schedule_fires", "Fires recorded", labels=["entry"])
    skips = CounterMetricFamily("tuskflow_schedule_skips", "Fires skipped", labels=["entry"])
    last = GaugeMetricFamily(
        "tuskflow_schedule_last_fire_timestamp_seconds",
        "Nominal time of the last fire",
        labels=["entry"],
    )
    upcoming = GaugeMetricFamily(
        "tuskflow_schedule_next_fire_timestamp_seconds",
        "Nominal time of the next fire",
        labels=["entry"],
    )
    for entry in status.schedules:
        fires.add_metric([entry["id"]], entry["fired"])
        skips.add_metric([entry["id"]], entry["skipped"])
        if entry["last_fire"] is not None:
            last.add_metric([entry["id"]], entry["last_fire"].timestamp())
        if entry["next_fire"] is not None:
            upcoming.add_metric([entry["id"]], entry["next_fire"].timestamp())
    yield from (fires, skips, last, upcoming)


def _store(status: SystemStatus) -> Iterator[Metric]:
    store = status.store
    yield GaugeMetricFamily(
        "tuskflow_store_head_position",
        "The event store's highest position",
        value=store["head_position"],
    )
    yield GaugeMetricFamily(
        "tuskflow_dead_letters_open", "Dead letters not replayed", value=store["dead_letters_open"]
    )
    lag = GaugeMetricFamily(
        "tuskflow_projection_lag", "Events between the head and a checkpoint", labels=["checkpoint"]
    )
    for name, behind in store["checkpoint_lag"].items():
        lag.add_metric([name], behind)
    yield lag
    day = store["last_archive_day"]
    archive = GaugeMetricFamily(
        "tuskflow_archive_last_day_timestamp_seconds", "Midnight (UTC) of the last archived day"
    )
    if day is not None:
        archive.add_metric([], datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    yield archive
