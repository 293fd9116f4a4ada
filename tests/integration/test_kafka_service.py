"""The Kafka that tests use is a real broker: topics, produce, group consume, committed offsets."""

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from tuskflow.config import load_settings
from tuskflow.deploy.local.kafka import KafkaService, find_java, format_storage, server_properties

MESSAGES = 1000
PARTITIONS = 3


@pytest.fixture
def topic(kafka_bootstrap: str) -> Iterator[str]:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    name = f"test-{uuid.uuid4().hex[:12]}"
    futures = admin.create_topics([NewTopic(name, num_partitions=PARTITIONS, replication_factor=1)])
    futures[name].result(timeout=30)
    yield name
    admin.delete_topics([name])[name].result(timeout=30)


def _produce(bootstrap: str, topic: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for n in range(MESSAGES):
        producer.produce(topic, key=f"stream-{n % 37}", value=str(n).encode())
    assert producer.flush(30) == 0


def _consumer(bootstrap: str, group: str, topic: str) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
        }
    )
    consumer.subscribe([topic])
    return consumer


def _consume(consumer: Consumer, want: int, timeout_s: float = 60) -> list[Message]:
    got: list[Message] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        for message in consumer.consume(num_messages=100, timeout=0.5):
            error = message.error()
            if error is not None and error.code() != KafkaError._PARTITION_EOF:
                raise AssertionError(f"consume failed: {error}")
            if error is None:
                got.append(message)
    return got


def _next_offsets(topic: str, messages: list[Message]) -> list[TopicPartition]:
    last: dict[int, int] = {}
    for message in messages:
        partition, offset = message.partition(), message.offset()
        assert partition is not None
        assert offset is not None
        last[partition] = max(last.get(partition, -1), offset)
    return [TopicPartition(topic, partition, offset + 1) for partition, offset in last.items()]


def test_group_resumes_from_committed_offsets_after_restart(
    kafka_bootstrap: str, topic: str
) -> None:
    group = f"group-{uuid.uuid4().hex[:8]}"
    _produce(kafka_bootstrap, topic)

    first = _consumer(kafka_bootstrap, group, topic)
    seen = _consume(first, want=MESSAGES // 2)
    processed = seen[: MESSAGES // 2]
    committed = _next_offsets(topic, processed)
    first.commit(offsets=committed, asynchronous=False)
    first.close()

    second = _consumer(kafka_bootstrap, group, topic)
    read_back = second.committed(
        [TopicPartition(topic, partition) for partition in range(PARTITIONS)], timeout=10
    )
    rest = _consume(second, want=MESSAGES - len(processed))
    extra = _consume(second, want=1, timeout_s=2)
    second.close()

    assert {(tp.partition, tp.offset) for tp in read_back if tp.offset >= 0} == {
        (tp.partition, tp.offset) for tp in committed
    }
    values = sorted(int(m.value() or b"-1") for m in processed + rest)
    assert values == list(range(MESSAGES))
    assert extra == []


@pytest.fixture(scope="module")
def kafka_service(kafka_bootstrap: str) -> KafkaService:
    """The local broker's service, its jars resolved (also when the broker is external)."""
    settings = load_settings()
    service = KafkaService(
        settings.state_dir, settings.local_kafka_port, settings.local_kafka_controller_port
    )
    service.home.mkdir(parents=True, exist_ok=True)
    service.resolve_jars()
    return service


def test_storage_formats_with_a_cluster_id_that_begins_with_a_dash(
    kafka_service: KafkaService, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    config = tmp_path / "server.properties"
    config.write_text(server_properties(data, 1, 2))

    format_storage(find_java(), kafka_service.lib, config, data, "-dashFirstClusterIdAA")

    meta = dict(
        line.split("=", 1)
        for line in (data / "meta.properties").read_text().splitlines()
        if "=" in line
    )
    assert meta["cluster.id"] == "-dashFirstClusterIdAA"
