"""`tuskflow metrics serve` as an operator scrapes it: one endpoint whose output parses with
prometheus_client's parser and carries every part of the system under tuskflow_ names, with the
values the system holds (a waiting ETL message, jobs by state, a Kafka partition's lag, a
schedule's fires, open dead letters)."""

import http.client
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.etl_processes import stop_process
from tests.integration.workers.kafka_helpers import new_topic
from tuskflow.eventstore import PostgresEventStore
from tuskflow.jobs.history import JobHistory
from tuskflow.scheduler.fire_ledger import FireLedger, JobToStart

TUSKFLOW = Path(sys.executable).with_name("tuskflow")
REDIS_DB = 13
FAMILIES = {
    "tuskflow_process_up",
    "tuskflow_process_heartbeat_age_seconds",
    "tuskflow_queue_length",
    "tuskflow_queue_reserved",
    "tuskflow_jobs",
    "tuskflow_job_duration_seconds",
    "tuskflow_job_queue_wait_seconds",
    "tuskflow_consumer_kafka_lag",
    "tuskflow_consumer_redis_pending",
    "tuskflow_consumer_redis_lag",
    "tuskflow_schedule_fires",
    "tuskflow_schedule_skips",
    "tuskflow_schedule_last_fire_timestamp_seconds",
    "tuskflow_schedule_next_fire_timestamp_seconds",
    "tuskflow_store_head_position",
    "tuskflow_dead_letters_open",
    "tuskflow_projection_lag",
    "tuskflow_archive_last_day_timestamp_seconds",
    "tuskflow_status_unreachable",
    "tuskflow_status_read_seconds",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scrape(port: int) -> tuple[str, float]:
    began = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    return text, time.perf_counter() - began


def _system_state(url: str, bootstrap: str, folder: Path) -> str:
    """A failed job, a schedule that fired once, a Kafka partition 7 messages behind; the topic."""
    with PostgresEventStore(url) as store:
        history = JobHistory(store)
        history.submitted("j1", "tiny", "{}", "test")
        history.started("j1", "w", "t", partitions=1)
        history.failed("j1", 1, "broken")
        FireLedger(store).record(
            "nightly",
            datetime(2026, 12, 3, 2, 30, tzinfo=UTC),
            "schedule",
            JobToStart("tiny", "{}"),
        )
    topic = new_topic(bootstrap, 1)
    producer = Producer({"bootstrap.servers": bootstrap})
    for _ in range(9):
        producer.produce(topic, value=b"{}", partition=0)
    assert producer.flush(30) == 0
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO source_offsets (consumer_group, topic, partition, next_offset)"
            " VALUES ('g', %s, 0, 2)",
            [topic],
        )
    (folder / "data.csv").write_text("a\n1\n")
    (folder / "tiny.yaml").write_text(
        f"version: 1\nname: tiny\nsource: {{format: csv, path: {folder / 'data.csv'}}}\n"
        f"sink: {{kind: parquet, path: {folder / 'out'}}}\n"
    )
    (folder / "schedule.yaml").write_text(
        "entries:\n  - {id: nightly, cron: '30 2 * * *', job: tiny.yaml}\n"
    )
    return topic


def test_one_scrape_carries_every_part_of_the_system_with_its_values(
    migrated_url: str, redis_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    broker = urlsplit(redis_url)._replace(path=f"/{REDIS_DB}").geturl()
    client = redis.Redis.from_url(broker)
    client.flushdb()
    client.lpush("etl", b"{}")  # one message waiting in the ETL queue's list
    topic = _system_state(migrated_url, kafka_bootstrap, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSKFLOW_")}
    env.update(
        TUSKFLOW_DATABASE_URL=migrated_url,
        TUSKFLOW_REDIS_URL=broker,
        TUSKFLOW_KAFKA_BOOTSTRAP=kafka_bootstrap,
        TUSKFLOW_SCHEDULE_FILE=str(tmp_path / "schedule.yaml"),
        TUSKFLOW_LOG_FORMAT="json",
    )
    port = _free_port()
    with (tmp_path / "metrics.log").open("wb") as log:
        server = subprocess.Popen(
            [str(TUSKFLOW), "metrics", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    text, _ = _scrape(port)
                    break
                except OSError:
                    assert server.poll() is None, (tmp_path / "metrics.log").read_text()
                    assert time.monotonic() < deadline, "no metrics within 60 s"
                    time.sleep(0.3)
            timings = [_scrape(port)[1] for _ in range(5)]
        finally:
            stop_process(server)
    families = {family.name: family for family in text_string_to_metric_families(text)}
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families.values()
        for sample in family.samples
    }
    print(f"\nscrape seconds, 5 scrapes: {[round(t, 3) for t in timings]}")
    print("\n".join(line for line in text.splitlines() if line.startswith("tuskflow_"))[:3000])
    assert set(families) >= FAMILIES
    assert samples[("tuskflow_queue_length", (("queue", "etl"),))] == 1
    assert samples[("tuskflow_jobs", (("state", "failed"),))] == 1
    assert samples[("tuskflow_jobs", (("state", "submitted"),))] == 1  # the fire's job
    kafka_key = (("group", "g"), ("partition", "0"), ("topic", topic))
    assert samples[("tuskflow_consumer_kafka_lag", kafka_key)] == 7  # 9 sent, 2 stored
    assert samples[("tuskflow_schedule_fires_total", (("entry", "nightly"),))] == 1
    assert samples[("tuskflow_dead_letters_open", ())] == 0
    assert samples[("tuskflow_job_duration_seconds_count", ())] == 1  # the failed job's attempt
    assert samples[("tuskflow_job_queue_wait_seconds_bucket", (("le", "+Inf"),))] == 1
    assert ("tuskflow_status_unreachable", ()) not in samples
