"""The pure parts of the local Kafka: Java version parsing, configuration, ids, advice."""

import base64
from pathlib import Path

import pytest

from tuskflow.deploy.local.kafka import (
    java_major,
    missing_tools_message,
    new_cluster_id,
    server_properties,
    storage_format_argv,
)


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"', 8),
        ("no version here", None),
    ],
)
def test_java_major_version_is_read_from_java_version_output(
    output: str, major: int | None
) -> None:
    assert java_major(output) == major


def test_broker_listens_only_on_loopback_with_single_replica_internal_topics() -> None:
    properties = _broker_properties()

    assert properties["process.roles"] == "broker,controller"
    assert properties["listeners"] == "PLAINTEXT://127.0.0.1:59092,CONTROLLER://127.0.0.1:59093"
    assert properties["controller.quorum.bootstrap.servers"] == "127.0.0.1:59093"
    assert properties["log.dirs"] == "/state/kafka/data"
    assert properties["offsets.topic.replication.factor"] == "1"
    assert properties["transaction.state.log.min.isr"] == "1"


def test_missing_tool_advice_names_both_ways_out() -> None:
    message = missing_tools_message("java is not on PATH")

    assert "java is not on PATH" in message
    assert "Install Java 17+ and Maven" in message
    assert "TUSKFLOW_KAFKA_BOOTSTRAP" in message
    assert "\n" not in message


def test_cluster_ids_are_uuids_that_never_begin_with_a_dash() -> None:
    # One base64 id in 64 begins with "-"; 5,000 draws would meet about 78 of them.
    ids = [new_cluster_id() for _ in range(5000)]

    assert not [cluster_id for cluster_id in ids if cluster_id.startswith("-")]
    assert {len(base64.urlsafe_b64decode(cluster_id + "==")) for cluster_id in ids} == {16}
    assert len(set(ids)) == len(ids)


def test_storage_format_joins_each_value_to_its_option() -> None:
    argv = storage_format_argv(
        Path("/jdk/bin/java"), Path("/state/kafka/lib"), Path("/state/server.properties"), "-x"
    )

    assert argv[-2:] == ["--cluster-id=-x", "--config=/state/server.properties"]
    assert "-t" not in argv


def test_topics_made_by_their_first_producer_get_four_partitions() -> None:
    properties = _broker_properties()

    assert properties["num.partitions"] == "4"


def _broker_properties() -> dict[str, str]:
    """The local broker's server.properties for ports 59092/59093, as a dict."""
    lines = server_properties(Path("/state/kafka/data"), 59092, 59093).splitlines()
    return dict(line.split("=", 1) for line in lines if line)
