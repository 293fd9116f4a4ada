"""The Grafana dashboard in deploy/grafana queries only metrics `tuskflow metrics serve` serves."""

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tuskflow.monitoring.status import (
    Buckets,
    KafkaLag,
    ProcessBeat,
    QueueDepth,
    RedisGroupLag,
    SystemStatus,
)
from tuskflow.monitoring.system_metrics import SystemCollector

DASHBOARD = Path(__file__).parents[3] / "deploy" / "grafana" / "tuskflow-dashboard.json"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _every_part() -> SystemStatus:
    """A status with one of everything, so that every family has a sample."""
    return SystemStatus(
        NOW,
        processes=[ProcessBeat("beat", "h1", 7, {}, NOW, 1.0)],
        queues=[QueueDepth("etl", 3, 1)],
        jobs_by_state={"failed": 2},
        job_durations=Buckets((1.0, 10.0), (1, 2), 2, 7.5),
        queue_waits=Buckets((0.5,), (2,), 2, 0.4),
        kafka=[KafkaLag("g", "t", 0, 4, 10, 6)],
        redis_streams=[RedisGroupLag("s", "g", 1, 3, 4)],
        schedules=[
            {
                "id": "e",
                "fires": "job x",
                "last_fire": NOW,
                "next_fire": NOW,
                "fired": 1,
                "skipped": 0,
                "paused": None,
            }
        ],
        store={
            "head_position": 9,
            "dead_letters_open": 1,
            "checkpoint_lag": {"projection:jobs": 0},
            "last_archive_day": date(2026, 12, 3),
            "last_archive_day_verified": True,
        },
        unreachable=["Kafka at x: down"],
    )


def _served() -> set[str]:
    registry = CollectorRegistry()
    registry.register(SystemCollector(_every_part))
    text = generate_latest(registry).decode()
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


def test_every_metric_the_dashboard_queries_is_one_the_endpoint_serves() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"tuskflow_[a-z_]+", target["expr"])
    }
    served = _served()
    assert queried <= served, sorted(queried - served)
    assert len(queried) >= 15
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_the_endpoint_serves_one_sample_of_each_part_with_its_value() -> None:
    registry = CollectorRegistry()
    registry.register(SystemCollector(_every_part))
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    }
    assert samples[("tuskflow_queue_reserved", (("queue", "etl"),))] == 1
    assert samples[("tuskflow_job_duration_seconds_bucket", (("le", "10.0"),))] == 2
    assert samples[("tuskflow_job_duration_seconds_sum", ())] == 7.5
    assert samples[("tuskflow_consumer_redis_lag", (("group", "g"), ("stream", "s")))] == 4
    assert samples[("tuskflow_process_up", (("host", "h1"), ("pid", "7"), ("role", "beat")))] == 1
    assert samples[("tuskflow_status_unreachable", (("part", "Kafka at x"),))] == 1
    assert (
        samples[("tuskflow_archive_last_day_timestamp_seconds", ())]
        == datetime(2026, 12, 3, tzinfo=UTC).timestamp()
    )
