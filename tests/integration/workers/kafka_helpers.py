"""Producing to real Kafka topics and running consumers in threads, for the consumer tests."""

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from tuskflow.workers.ingest_configs import KafkaIngestConfig
from tuskflow.workers.kafka_consumer import KafkaIngestor
from tuskflow.workers.mapping import MappingSpec


def new_topic(bootstrap: str, partitions: int) -> str:
    """A fresh topic with ``partitions`` partitions."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    name = f"test-{uuid.uuid4().hex[:12]}"
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[
        name
    ].result(timeout=30)
    return name


def produce(
    bootstrap: str, topic: str, count: int, *, keys: int = 40, start: int = 0, raw: bool = False
) -> None:
    """``count`` Measured readings spread over ``keys`` meters; values number them."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for n in range(start, start + count):
        producer.produce(
            topic, key=f"meter-{n % keys}", value=json.dumps({"type": "Measured", "value": n})
        )
        if n % 1000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0


def produce_raw(
    bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes | None]]
) -> None:
    """Messages as given, key and value, to partition 0 in order."""
    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value in messages:
        producer.produce(topic, key=key, value=value, partition=0)
    assert producer.flush(30) == 0


def ingest_config(
    bootstrap: str, topic: str, group: str, database_url: str, **options: Any
) -> KafkaIngestConfig:
    """A consumer config with the default mapping."""
    return KafkaIngestConfig(
        bootstrap=bootstrap,
        topics=(topic,),
        group=group,
        mapping=MappingSpec(),
        database_url=database_url,
        max_event_bytes=options.pop("max_event_bytes", 1 << 20),
        batch_timeout_s=0.2,
        **options,
    )


@contextmanager
def running(ingest_config: KafkaIngestConfig) -> Iterator[KafkaIngestor]:
    """An ingestor running in a thread until the block ends."""
    ingestor = KafkaIngestor(ingest_config)
    stop = threading.Event()
    thread = threading.Thread(target=ingestor.run, args=(stop,))
    thread.start()
    try:
        yield ingestor
    finally:
        stop.set()
        thread.join(timeout=60)
        assert not thread.is_alive(), "consumer did not stop"


def stored(database_url: str, topic: str) -> int:
    """Events stored from ``topic``."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM events WHERE metadata->>'topic' = %s", [topic]
        ).fetchone()
    return int(row[0]) if row else 0


def wait_for(condition: Callable[[], bool], timeout_s: float = 60, what: str = "condition") -> None:
    """Poll until ``condition`` holds; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} not reached in {timeout_s:.0f} s"
        time.sleep(0.1)
