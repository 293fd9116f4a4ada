"""A Kafka consumer that holds no partition says why in its log, once per idle spell."""

import time
from collections.abc import MutableMapping
from typing import Any

from structlog.testing import capture_logs

from tests.integration.workers.kafka_helpers import (
    ingest_config,
    new_topic,
    produce,
    running,
    stored,
    wait_for,
)
from tests.integration.workers.test_kafka_lost_partitions import owns_every_partition

IDLE_S = 2.0


def _idle(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == "consumer.idle"]


def test_a_member_beyond_the_partition_count_says_it_holds_none_and_why(
    kafka_bootstrap: str, migrated_url: str
) -> None:
    topic = new_topic(kafka_bootstrap, 1)
    group = f"g-{topic}"
    produce(kafka_bootstrap, topic, 100)
    first = ingest_config(
        kafka_bootstrap, topic, group, migrated_url, client_id="m-first", idle_warning_s=IDLE_S
    )
    second = ingest_config(
        kafka_bootstrap, topic, group, migrated_url, client_id="m-second", idle_warning_s=IDLE_S
    )

    with capture_logs() as logs, running(first):
        wait_for(lambda: stored(migrated_url, topic) == 100, what="the first member's messages")
        with running(second):
            # The sticky assignor leaves the one partition with the first member.
            wait_for(lambda: len(_idle(logs)) >= 1, timeout_s=60, what="the idle member's word")
            wait_for(
                lambda: owns_every_partition(kafka_bootstrap, group, "m-first", 1),
                what="the partition kept by the first member",
            )
            # Told once per spell, not at every poll.
            time.sleep(IDLE_S * 1.5)

    told = _idle(logs)
    assert len(told) == 1, told
    assert told[0]["partitions"] == {topic: 1}
    assert f"{topic} has 1" in told[0]["reason"]
    assert "tuskflow kafka topics create" in told[0]["reason"]


def test_a_member_of_a_topic_that_does_not_exist_says_so(
    kafka_bootstrap: str, migrated_url: str
) -> None:
    topic = "missing-topic-for-idle-test"
    config = ingest_config(
        kafka_bootstrap, topic, f"g-{topic}", migrated_url, idle_warning_s=IDLE_S
    )

    with capture_logs() as logs, running(config):
        wait_for(lambda: len(_idle(logs)) >= 1, timeout_s=60, what="the idle member's word")

    assert _idle(logs)[0]["partitions"] == {topic: 0}
    assert f"topic {topic} does not exist yet" in _idle(logs)[0]["reason"]
