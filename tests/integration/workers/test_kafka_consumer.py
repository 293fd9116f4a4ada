"""Kafka into the event store: nothing lost, nothing doubled, poison kept, fencing, groups."""

import threading
import time
from dataclasses import replace
from typing import Any

import psycopg
from confluent_kafka import Consumer, TopicPartition

from tests.integration.workers.kafka_helpers import (
    ingest_config,
    new_topic,
    produce,
    produce_raw,
    running,
    stored,
    wait_for,
)
from tuskflow.eventstore import PostgresEventStore
from tuskflow.workers.metrics import RATE_WINDOW_S


def _versions_follow_values(url: str, topic: str) -> None:
    with psycopg.connect(url) as conn:
        rows: list[Any] = conn.execute(
            "SELECT stream_id, stream_version, (data->>'value')::int FROM events"
            " WHERE metadata->>'topic' = %s ORDER BY stream_id, stream_version",
            [topic],
        ).fetchall()
    by_stream: dict[str, list[tuple[int, int]]] = {}
    for stream, version, value in rows:
        by_stream.setdefault(stream, []).append((version, value))
    for stream, pairs in by_stream.items():
        versions = [v for v, _ in pairs]
        values = [value for _, value in pairs]
        assert versions == list(range(1, len(pairs) + 1)), stream
        assert values == sorted(values), f"{stream} stored out of produced order"


def test_every_message_is_one_event_in_per_key_order_and_a_restart_adds_nothing(
    kafka_bootstrap: str, migrated_url: str
) -> None:
    topic = new_topic(kafka_bootstrap, 4)
    produce(kafka_bootstrap, topic, 3000)
    config = ingest_config(kafka_bootstrap, topic, f"g-{topic}", migrated_url)

    with running(config):
        wait_for(lambda: stored(migrated_url, topic) >= 3000, what="3000 events")
    with running(config) as again:
        time.sleep(2)  # time to be assigned and fetch whatever it would (nothing)

    assert stored(migrated_url, topic) == 3000
    assert again.metrics.handled("duplicate") == 0
    _versions_follow_values(migrated_url, topic)
    with PostgresEventStore(migrated_url, pool_size=1) as store:
        offsets = store.load_progress(f"g-{topic}", [(topic, p) for p in range(4)])
    assert sum(offsets.values()) == 3000


def test_postgres_offsets_win_over_offsets_committed_to_kafka(
    kafka_bootstrap: str, migrated_url: str
) -> None:
    topic = new_topic(kafka_bootstrap, 1)
    produce(kafka_bootstrap, topic, 200)
    group = f"g-{topic}"
    config = ingest_config(kafka_bootstrap, topic, group, migrated_url)
    with running(config):
        wait_for(lambda: stored(migrated_url, topic) >= 200, what="200 events")
    rewind = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    rewind.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
    rewind.close()

    with running(config) as again:
        time.sleep(2)

    assert again.metrics.handled("duplicate") == 0
    assert stored(migrated_url, topic) == 200


def test_poison_messages_land_in_dead_letters_while_the_good_ones_around_them_are_stored(
    kafka_bootstrap: str, migrated_url: str
) -> None:
    topic = new_topic(kafka_bootstrap, 1)
    good = b'{"type": "Measured", "value": 1}'
    produce_raw(
        kafka_bootstrap,
        topic,
        [
            (b"meter-1", good),
            (b"meter-1", b"not json at all"),
            (None, good),
            (b"meter-1", b'["an", "array"]'),
            (b"meter-1", b'{"type": ["not", "text"]}'),
            (b"meter-1", b'{"type": "Measured", "blob": "' + b"x" * 3000 + b'"}'),
            (b"meter-1", None),
            (b"meter-1", good.replace(b"1}", b"2}")),
        ],
    )

    with running(
        ingest_config(kafka_bootstrap, topic, f"g-{topic}", migrated_url, max_event_bytes=1024)
    ):
        wait_for(lambda: stored(migrated_url, topic) >= 2, what="the good events")
        wait_for(lambda: _dead_letters(migrated_url, topic) == 6, what="6 dead letters")

    with psycopg.connect(migrated_url) as conn:
        reasons: dict[int, str] = dict(
            conn.execute(
                "SELECT (coordinates->>'offset')::int, reason FROM dead_letters"
                " WHERE coordinates->>'topic' = %s",
                [topic],
            ).fetchall()
        )
        raw = conn.execute(
            "SELECT raw_payload FROM dead_letters WHERE source_key = %s", [f"kafka:{topic}/0/1"]
        ).fetchone()
    assert "not JSON" in reasons[1]
    assert "missing stream key" in reasons[2]
    assert "not an object" in reasons[3]
    assert "event type: field 'type' is a list, not text" in reasons[4]
    assert "over the 1024-byte limit" in reasons[5]
    assert "empty message" in reasons[6]
    assert raw is not None
    assert bytes(raw[0]) == b"not json at all"
    assert stored(migrated_url, topic) == 2


def _dead_letters(url: str, topic: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM dead_letters WHERE coordinates->>'topic' = %s", [topic]
        ).fetchone()
    return int(row[0]) if row else 0


def test_members_joining_and_leaving_mid_flow_lose_and_double_nothing(
    kafka_bootstrap: str, migrated_url: str
) -> None:
    topic = new_topic(kafka_bootstrap, 6)
    total, chunk = 12_000, 1_000
    config = ingest_config(kafka_bootstrap, topic, f"g-{topic}", migrated_url, batch_size=200)

    def produce_in_chunks() -> None:
        for start in range(0, total, chunk):
            produce(kafka_bootstrap, topic, chunk, start=start)
            time.sleep(0.2)

    producing = threading.Thread(target=produce_in_chunks)
    producing.start()
    with running(config) as first:
        wait_for(lambda: stored(migrated_url, topic) >= 2000, what="first 2000 events")
        with running(config) as second:
            with running(config) as third:
                wait_for(lambda: stored(migrated_url, topic) >= 7000, what="7000 events")
            wait_for(lambda: stored(migrated_url, topic) >= 9000, what="9000 events")
        producing.join()
        wait_for(lambda: stored(migrated_url, topic) >= total, what=f"{total} events")

    handled = [ingestor.metrics.handled("new") for ingestor in (first, second, third)]
    assert stored(migrated_url, topic) == total
    assert sum(handled) == total
    assert all(count > 0 for count in handled), f"every member got partitions: {handled}"
    _versions_follow_values(migrated_url, topic)


def test_the_metrics_count_what_the_store_holds_as_soon_as_it_holds_it(
    kafka_bootstrap: str, migrated_url: str
) -> None:
    # Drained, the consumer waits out a fetch (1 s here) before it takes its last batch's
    # outcome: counters taken then trailed the store by that batch for that second.
    topic = new_topic(kafka_bootstrap, 4)
    produce(kafka_bootstrap, topic, 3000)
    config = replace(ingest_config(kafka_bootstrap, topic, f"g-{topic}", migrated_url),
                     batch_timeout_s=1.0, batch_size=700)  # fmt: skip

    with running(config) as ingestor:
        deadline = time.monotonic() + 60
        while stored(migrated_url, topic) < 3000:
            assert time.monotonic() < deadline, "3000 events not stored in 60 s"
            time.sleep(0.005)
        counted = ingestor.metrics.handled("new")
        lag = ingestor.metrics.total_lag()
        per_second = ingestor.metrics.registry.get_sample_value(
            "tuskflow_consumer_events_per_second", {"source": "kafka"}
        )

    assert counted == 3000
    assert lag == 0
    assert per_second == 3000 / RATE_WINDOW_S
