"""`tuskflow kafka topics create|list|describe` against a real broker."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer

from tuskflow.config import load_settings

TUSKFLOW = Path(sys.executable).with_name("tuskflow")


def _tuskflow(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TUSKFLOW_KAFKA_BOOTSTRAP": bootstrap, "TUSKFLOW_LOG_FORMAT": "json"}
    return subprocess.run(
        [str(TUSKFLOW), "kafka", "topics", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_topic_is_created_with_its_partitions_listed_and_described(
    kafka_bootstrap: str,
) -> None:
    name = f"cli-{uuid.uuid4().hex[:10]}"

    created = _tuskflow(kafka_bootstrap, "create", name, "--partitions", "3")
    again = _tuskflow(kafka_bootstrap, "create", name, "--partitions", "5")
    _produce(kafka_bootstrap, name, partition=2)
    listed = _tuskflow(kafka_bootstrap, "list", "--json")
    described = _tuskflow(kafka_bootstrap, "describe", name, "--json")
    table = _tuskflow(kafka_bootstrap, "describe", name)
    unknown = _tuskflow(kafka_bootstrap, "describe", f"{name}-nope")

    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == f"created topic {name!r}: 3 partitions, replication factor 1"
    assert again.returncode == 2
    assert f"topic {name!r} exists already, with 3 partitions" in again.stderr
    rows = {row["topic"]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert rows[name]["partitions"] == 3
    assert not any(topic.startswith("__") for topic in rows)
    partitions = [json.loads(line) for line in described.stdout.splitlines()]
    assert [p["partition"] for p in partitions] == [0, 1, 2]
    assert [p["latest_offset"] for p in partitions] == [0, 0, 1]
    assert table.stdout.startswith(f"topic {name!r}: 3 partitions, replication factor 1")
    assert unknown.returncode == 2
    assert f"no topic '{name}-nope'" in unknown.stderr


def test_the_local_broker_gives_a_topic_made_by_a_producer_four_partitions(
    kafka_bootstrap: str,
) -> None:
    if load_settings().kafka_bootstrap is not None:
        pytest.skip("the broker was given by TUSKFLOW_KAFKA_BOOTSTRAP: its defaults are not ours")
    name = f"auto-{uuid.uuid4().hex[:10]}"
    _produce(kafka_bootstrap, name)

    described = _tuskflow(kafka_bootstrap, "describe", name)

    assert described.stdout.startswith(f"topic {name!r}: 4 partitions"), described


def _produce(bootstrap: str, topic: str, partition: int = -1) -> None:
    """One message; to a topic that does not exist, the broker makes it with its defaults."""
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, b"first", partition=partition)
    assert producer.flush(30) == 0
