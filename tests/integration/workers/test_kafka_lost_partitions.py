"""A Kafka member that loses its partitions (the group moved on while its batch was stuck)
drops them at once: its late write either lands first, fencing the new owner, or is fenced
itself; either way every message is stored once."""

import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import psycopg
from confluent_kafka.admin import AdminClient
from structlog.testing import capture_logs

from tests.integration.workers.kafka_helpers import (
    ingest_config,
    new_topic,
    produce,
    running,
    stored,
    wait_for,
)
from tests.integration.workers.test_kafka_consumer import _versions_follow_values

MESSAGES = 2_000
_HANDOVERS = ("partitions.assigned", "partitions.revoked", "partitions.lost", "consumer.fenced")


@contextmanager
def offsets_locked(database_url: str) -> Iterator[threading.Event]:
    """Every write of source offsets waits until the returned event is set (reads go on)."""
    release = threading.Event()
    locked = threading.Event()

    def hold() -> None:
        with psycopg.connect(database_url) as conn, conn.transaction():
            conn.execute("LOCK TABLE source_offsets IN EXCLUSIVE MODE")
            locked.set()
            release.wait(120)

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(30), "the lock on source_offsets was not taken"
    try:
        yield release
    finally:
        release.set()
        holder.join(30)


def owns_every_partition(bootstrap: str, group: str, client_id: str, partitions: int) -> bool:
    """Whether the group's member named ``client_id`` holds all ``partitions``."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    described = admin.describe_consumer_groups([group])[group].result(timeout=10)
    for member in described.members:
        if member.client_id == client_id and member.assignment is not None:
            return len(member.assignment.topic_partitions) == partitions
    return False


def test_a_member_whose_partitions_were_lost_mid_write_loses_and_doubles_nothing(
    kafka_bootstrap: str, migrated_url: str
) -> None:
    topic = new_topic(kafka_bootstrap, 2)
    group = f"g-{topic}"
    produce(kafka_bootstrap, topic, MESSAGES)
    # The broker's lowest session timeout (6 s) and a poll interval just above it: a batch
    # stuck longer than 7 s costs the member its partitions.
    stuck = ingest_config(
        kafka_bootstrap,
        topic,
        group,
        migrated_url,
        client_id="member-stuck",
        session_timeout_ms=6_000,
        max_poll_interval_ms=7_000,
    )
    taker = ingest_config(kafka_bootstrap, topic, group, migrated_url, client_id="member-taker")

    with (
        capture_logs() as logs,
        offsets_locked(migrated_url) as release,
        running(stuck) as first,
    ):
        # Given a member whose first batch is stuck on a lock in PostgreSQL
        wait_for(lambda: _event(logs, "partitions.assigned"), what="the first assignment")
        with running(taker) as second:
            # When the group gives every partition to another member, whose write waits behind
            # the same lock, and then the lock goes
            wait_for(
                lambda: owns_every_partition(kafka_bootstrap, group, "member-taker", 2),
                timeout_s=60,
                what="the partitions handed to the second member",
            )
            assert stored(migrated_url, topic) == 0
            release.set()
            wait_for(lambda: stored(migrated_url, topic) >= MESSAGES, what="every message")
            wait_for(lambda: _event(logs, "partitions.lost"), what="the loss noticed")

    # Then the first member dropped what it lost, and each message is stored once, in order
    assert stored(migrated_url, topic) == MESSAGES
    _versions_follow_values(migrated_url, topic)
    handled = first.metrics.handled("new") + second.metrics.handled("new")
    assert handled == MESSAGES, f"new events counted by the two members: {handled}"
    handovers = [(e["event"], e.get("partitions")) for e in logs if e["event"] in _HANDOVERS]
    print(f"\nhandovers: {handovers}")


def _event(logs: list[MutableMapping[str, Any]], name: str) -> bool:
    return any(entry["event"] == name for entry in logs)
