"""`tuskflow status`'s reading of a system with real PostgreSQL, Redis and Kafka: a queue with
messages waiting and one reserved by a consumer, jobs in each state, a Kafka group behind its
topic, a Redis group with pending entries and a backlog, a schedule that fired, a dead letter.
Each part reports what was made: lag equals what was sent minus what was stored."""

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis
from confluent_kafka import Producer
from kombu.connection import Connection as KombuConnection

from tests.integration.workers.kafka_helpers import new_topic
from tuskflow.config.celery import ETL_QUEUE
from tuskflow.config.database import connect
from tuskflow.etl.cluster import LocalDaskCluster
from tuskflow.eventstore import PostgresEventStore
from tuskflow.eventstore.records import DeadLetter
from tuskflow.jobs.history import JobHistory
from tuskflow.monitoring.heartbeat import Heartbeat
from tuskflow.monitoring.status import dask_workers, processes, system_status
from tuskflow.scheduler.fire_ledger import FireLedger, JobToStart

REDIS_DB = 12


def _broker(redis_url: str) -> str:
    url = urlsplit(redis_url)._replace(path=f"/{REDIS_DB}").geturl()
    redis.Redis.from_url(url).flushdb()
    return url


def _queue_with_one_reserved(broker: str) -> KombuConnection:
    """Three ETL messages queued as Celery queues them, one taken by a consumer unacknowledged."""
    connection = KombuConnection(broker)
    queue = connection.SimpleQueue(ETL_QUEUE)
    for n in range(3):
        queue.put({"n": n}, routing_key=ETL_QUEUE)
    queue.get(timeout=5)  # held, not acknowledged: kombu keeps it in the unacked hash
    return connection


def _jobs(url: str) -> None:
    with PostgresEventStore(url) as store:
        history = JobHistory(store)
        for job_id in ("waiting", "busy", "broken"):
            history.submitted(job_id, f"spec-{job_id}", "{}", "test")
        history.started("busy", "worker-1", "t1", partitions=4)
        history.partition_completed("busy", 1, 0, rows_in=10, rejected=0)
        history.started("broken", "worker-1", "t2", partitions=1)
        history.failed("broken", 1, "the source file is gone")
        store.write_batch(store.prepare([]), [DeadLetter("test", "test:1", "not JSON", b"{")])


def test_status_reports_queues_jobs_consumer_lag_schedules_and_the_store(
    migrated_url: str, redis_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    broker = _broker(redis_url)
    held = _queue_with_one_reserved(broker)
    _jobs(migrated_url)
    topic = new_topic(kafka_bootstrap, 2)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for n in range(15):
        producer.produce(topic, value=b"{}", partition=0 if n < 10 else 1)
    assert producer.flush(30) == 0
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO source_offsets (consumer_group, topic, partition, next_offset)"
            " VALUES ('g', %s, 0, 4), ('g', %s, 1, 5)",
            [topic, topic],
        )
    client = redis.Redis.from_url(broker)
    for n in range(7):
        client.xadd("meters", {"data": json.dumps({"n": n})})
    client.xgroup_create("meters", "ingest", id="0")
    client.xreadgroup("ingest", "c1", {"meters": ">"}, count=3)
    (tmp_path / "data.csv").write_text("a\n1\n")
    (tmp_path / "tiny.yaml").write_text(
        f"version: 1\nname: tiny\nsource: {{format: csv, path: {tmp_path / 'data.csv'}}}\n"
        f"sink: {{kind: parquet, path: {tmp_path / 'out'}}}\n"
    )
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text("entries:\n  - {id: nightly, cron: '30 2 * * *', job: tiny.yaml}\n")
    with PostgresEventStore(migrated_url) as store:
        FireLedger(store).record(
            "nightly",
            datetime(2026, 12, 3, 2, 30, tzinfo=UTC),
            "schedule",
            JobToStart("tiny", "{}"),
        )

    status = system_status(migrated_url, broker, kafka_bootstrap, schedule)
    held.release()

    assert [(q.queue, q.ready, q.reserved) for q in status.queues] == [
        ("etl", 2, 1),
        ("maintenance", 0, 0),
    ]
    assert status.jobs_by_state == {"submitted": 2, "running": 1, "failed": 1}  # 2: the fire's
    assert [
        (j["job_id"], j["partitions_done"], j["partitions_total"]) for j in status.running_jobs
    ] == [("busy", 1, 4)]
    assert [(k.partition, k.next_offset, k.high_watermark, k.lag) for k in status.kafka] == [
        (0, 4, 10, 6),
        (1, 5, 5, 0),
    ]
    assert [(r.stream, r.group, r.pending, r.lag) for r in status.redis_streams] == [
        ("meters", "ingest", 3, 4)
    ]
    [nightly] = status.schedules
    assert nightly["last_fire"] == datetime(2026, 12, 3, 2, 30, tzinfo=UTC)
    assert nightly["fired"] == 1
    assert status.store["dead_letters_open"] == 1
    assert status.store["checkpoint_lag"] == {"projection:jobs": 0}
    assert status.job_durations is not None
    assert status.queue_waits is not None
    assert (status.job_durations.count, status.queue_waits.count) == (1, 2)  # broken; busy, broken
    assert status.job_durations.cumulative[0] == 1  # it failed within a second of its start
    assert status.unreachable == []
    assert json.loads(status.as_json())["kafka"][0]["lag"] == 6


def test_status_names_a_broker_it_cannot_reach_and_reports_the_rest(migrated_url: str) -> None:
    status = system_status(migrated_url, "redis://127.0.0.1:1/0", None, None)
    assert status.queues == []
    assert len(status.unreachable) == 1
    assert status.unreachable[0].startswith("Redis: ")
    assert status.store["head_position"] == 0


def test_a_process_shows_by_its_heartbeat_and_leaves_when_it_stops(migrated_url: str) -> None:
    heartbeat = Heartbeat(migrated_url, "kafka-consumer", {"topics": ["t"], "group": "g"}, 0.2)
    heartbeat.start()
    time.sleep(0.5)
    with connect(migrated_url, "test") as conn:
        [seen] = processes(conn)
        heartbeat.stop()
        gone = processes(conn)
    assert (seen.role, seen.pid, seen.detail) == (
        "kafka-consumer",
        os.getpid(),
        {"topics": ["t"], "group": "g"},
    )
    assert seen.heartbeat_age_s < 1
    assert not seen.silent
    assert gone == []


def test_the_dask_schedulers_workers_are_listed_with_their_threads_and_last_contact() -> None:
    with LocalDaskCluster(workers=2) as cluster:
        workers = dask_workers(cluster.address)
    assert len(workers) == 2
    assert all(worker.threads >= 1 and worker.last_seen_s < 10 for worker in workers)
    assert all(worker.address.startswith("tcp://") for worker in workers)
