"""Redis Streams into the event store: nothing lost, nothing doubled, poison kept, safe trims."""

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from functools import partial
from typing import Any, LiteralString

import psycopg
import pytest
import redis

from tuskflow.workers.ingest_configs import RedisIngestConfig
from tuskflow.workers.mapping import MappingSpec
from tuskflow.workers.metrics import RATE_WINDOW_S
from tuskflow.workers.redis_consumer import RedisIngestor, client_name, safe_trim

MAPPING = MappingSpec(stream="key", event_type="field:type", event_id="source")
GROUP = "loaders"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as connection:
        yield connection


@pytest.fixture
def stream(client: redis.Redis) -> Iterator[str]:
    name = f"test:redis-consumer:{uuid.uuid4().hex}"
    yield name
    client.delete(name)


@pytest.fixture
def ingest_config(redis_url: str, migrated_url: str, stream: str) -> RedisIngestConfig:
    return RedisIngestConfig(
        redis_url=redis_url,
        stream=stream,
        group=GROUP,
        consumer="c1",
        mapping=MAPPING,
        database_url=migrated_url,
        max_event_bytes=4096,
        block_ms=100,
        claim_every_s=0.1,
    )


@contextmanager
def running(ingest_config: RedisIngestConfig) -> Iterator[RedisIngestor]:
    """An ingestor consuming in a thread until the block ends; its errors fail the test."""
    ingestor, stop, errors = RedisIngestor(ingest_config), threading.Event(), []

    def consume() -> None:
        try:
            ingestor.run(stop)
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=consume, name=f"redis-{ingest_config.consumer}", daemon=True)
    thread.start()
    try:
        yield ingestor
    finally:
        stop.set()
        thread.join(timeout=15)
    assert not thread.is_alive(), "the ingestor did not stop"
    assert not errors, errors


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def add(
    client: redis.Redis, stream: str, count: int, *, start: int = 0, keys: int = 50
) -> list[str]:
    """Append good entries ``{"type": "Measured", "value": i}`` keyed ``sensor-<i % keys>``."""
    pipe = client.pipeline(transaction=False)
    for i in range(start, start + count):
        payload = json.dumps({"type": "Measured", "value": i})
        pipe.xadd(stream, {"data": payload, "key": f"sensor-{i % keys}", "producer": "test"})
    return [entry_id.decode() for entry_id in pipe.execute()]


def query(url: str, sql: LiteralString, params: list[Any] | None = None) -> list[Any]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params or []).fetchall()


def stored(url: str, stream: str) -> int:
    rows = query(url, "SELECT count(*) FROM events WHERE metadata->>'stream' = %s", [stream])
    return int(rows[0][0])


def has_events(url: str, stream: str, count: int) -> bool:
    return stored(url, stream) >= count


def dead_reasons(url: str) -> dict[str, str]:
    rows = query(url, "SELECT coordinates->>'entry_id', reason FROM dead_letters")
    return {entry_id: reason for entry_id, reason in rows}


def pending(client: redis.Redis, stream: str, group: str = GROUP) -> int:
    return int(client.xpending(stream, group)["pending"])


def add_raw(client: redis.Redis, stream: str, fields: dict[str, str | bytes]) -> str:
    encoded: dict[Any, Any] = dict(fields)
    entry_id: Any = client.xadd(stream, encoded)
    return str(entry_id.decode())


def deliver(
    client: redis.Redis, stream: str, consumer: str, count: int | None, group: str = GROUP
) -> list[str]:
    """Read entries as ``consumer`` without acknowledging them, as a consumer that then dies."""
    reply: Any = client.xreadgroup(group, consumer, {stream: ">"}, count=count)
    [(_, entries)] = reply
    return [entry_id.decode() for entry_id, _ in entries]


def test_every_entry_is_one_event_in_per_key_order_and_none_stays_pending(
    client: redis.Redis, ingest_config: RedisIngestConfig, stream: str, migrated_url: str
) -> None:
    add(client, stream, 1000)

    with running(replace(ingest_config, batch_size=300, trim_every_s=0.1)):
        add(client, stream, 1000, start=1000)
        wait_for(lambda: stored(migrated_url, stream) >= 2000, "2000 events")
        wait_for(lambda: client.xlen(stream) == 0, "the stored entries trimmed")

    rows = query(
        migrated_url,
        "SELECT stream_id, stream_version, (data->>'value')::int FROM events"
        " ORDER BY stream_id, stream_version",
    )
    by_stream: dict[str, list[tuple[int, int]]] = {}
    for stream_id, version, value in rows:
        by_stream.setdefault(stream_id, []).append((version, value))
    assert len(rows) == 2000
    assert len(by_stream) == 50
    for stream_id, pairs in by_stream.items():
        number = int(stream_id.removeprefix("sensor-"))
        assert pairs == [(v + 1, number + 50 * v) for v in range(40)], stream_id
    assert pending(client, stream) == 0
    assert dead_reasons(migrated_url) == {}


def test_entries_delivered_before_a_crash_are_replayed_by_the_same_consumer_name(
    client: redis.Redis, ingest_config: RedisIngestConfig, stream: str, migrated_url: str
) -> None:
    client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    add(client, stream, 20)
    crashed = deliver(client, stream, "c1", 20)
    later = add(client, stream, 5, start=20)

    with running(replace(ingest_config, consumer="c1")):
        wait_for(lambda: stored(migrated_url, stream) >= 25, "25 events")

    rows = query(migrated_url, "SELECT metadata->>'entry_id' FROM events")
    assert len(crashed) == 20
    assert sorted(entry_id for (entry_id,) in rows) == sorted([*crashed, *later])
    assert pending(client, stream) == 0


def test_entries_idle_on_a_dead_consumer_are_claimed_and_stored(
    client: redis.Redis, ingest_config: RedisIngestConfig, stream: str, migrated_url: str
) -> None:
    client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    add(client, stream, 30)
    orphaned = deliver(client, stream, "dead", 30)

    with running(replace(ingest_config, consumer="alive", claim_idle_ms=200)):
        wait_for(lambda: stored(migrated_url, stream) >= 30, "30 claimed events")

    rows = query(migrated_url, "SELECT metadata->>'entry_id' FROM events")
    assert sorted(entry_id for (entry_id,) in rows) == sorted(orphaned)
    assert pending(client, stream) == 0


def test_poison_entries_become_dead_letters_and_the_good_ones_around_them_events(
    client: redis.Redis, ingest_config: RedisIngestConfig, stream: str, migrated_url: str
) -> None:
    good = add(client, stream, 3)
    poison: dict[str, dict[str, str | bytes]] = {
        "not JSON": {"data": b"{not json", "key": b"k"},
        "array": {"data": b"[1, 2]", "key": b"k"},
        "no key": {"data": b'{"type": "Measured"}'},
        "type not text": {"data": b'{"type": {"a": 1}}', "key": b"k"},
        "oversized": {"data": json.dumps({"type": "Measured", "v": "x" * 600}), "key": b"k"},
        "no payload": {"other": b"1", "key": b"k"},
    }
    ids = {name: add_raw(client, stream, fields) for name, fields in poison.items()}
    good += add(client, stream, 3, start=3)

    with running(replace(ingest_config, max_event_bytes=512)):
        wait_for(lambda: len(dead_reasons(migrated_url)) >= 6, "6 dead letters")
        wait_for(lambda: stored(migrated_url, stream) >= 6, "6 events")

    reasons = dead_reasons(migrated_url)
    assert "payload is not JSON" in reasons[ids["not JSON"]]
    assert "JSON list, not an object" in reasons[ids["array"]]
    assert "missing stream key" in reasons[ids["no key"]]
    assert "event type: field 'type' is an object" in reasons[ids["type not text"]]
    assert "over the 512-byte limit" in reasons[ids["oversized"]]
    assert reasons[ids["no payload"]].startswith(
        "no field 'data' in the entry (its fields: 'key', 'other'); the mapping reads the JSON"
    )
    rows = query(migrated_url, "SELECT metadata->>'entry_id' FROM events")
    assert sorted(entry_id for (entry_id,) in rows) == sorted(good)
    assert pending(client, stream) == 0


def test_field_value_entries_are_stored_with_the_mappings_stream_id_and_fields_as_data(
    client: redis.Redis, ingest_config: RedisIngestConfig, stream: str, migrated_url: str
) -> None:
    # As redis-benchmark, redis-cli and most tutorials write them: XADD s * device dev-1 kwh 1
    pipe = client.pipeline(transaction=False)
    for i in range(300):
        pipe.xadd(stream, {"device": f"dev-{i % 3}", "kwh": str(i), "site": "north"})
    pipe.execute()
    mapping = MappingSpec(
        redis_payload="entry", stream="field:device", field_types={"kwh": "integer"}
    )

    with running(replace(ingest_config, mapping=mapping)):
        wait_for(lambda: stored(migrated_url, stream) >= 300, "300 events")

    rows = query(
        migrated_url,
        "SELECT stream_id, event_type, data FROM events WHERE metadata->>'stream' = %s"
        " ORDER BY global_position",
        [stream],
    )
    assert [(row[0], row[1]) for row in rows[:3]] == [
        ("dev-0", stream), ("dev-1", stream), ("dev-2", stream),
    ]  # fmt: skip
    assert [row[2] for row in rows] == [
        {"device": f"dev-{i % 3}", "kwh": i, "site": "north"} for i in range(300)
    ]
    assert dead_reasons(migrated_url) == {}
    assert pending(client, stream) == 0


def test_an_entry_delivered_too_often_becomes_a_dead_letter_and_is_acknowledged(
    client: redis.Redis, ingest_config: RedisIngestConfig, stream: str, migrated_url: str
) -> None:
    client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    [hot] = add(client, stream, 1)
    deliver(client, stream, "c1", 1)
    for _ in range(2):  # each replay of a pending entry counts one more delivery
        client.xreadgroup(GROUP, "c1", {stream: "0"})
    [cool] = add(client, stream, 1, start=1)
    deliver(client, stream, "c1", 1)

    with running(replace(ingest_config, consumer="c1", max_deliveries=3)):
        wait_for(lambda: len(dead_reasons(migrated_url)) >= 1, "a dead letter")
        wait_for(lambda: stored(migrated_url, stream) >= 1, "an event")

    assert dead_reasons(migrated_url) == {hot: "delivered 4 times, over the limit of 3"}
    rows = query(migrated_url, "SELECT metadata->>'entry_id' FROM events")
    assert rows == [(cool,)]
    assert pending(client, stream) == 0


def test_safe_trim_removes_only_entries_every_group_is_done_with(
    client: redis.Redis, stream: str
) -> None:
    ids = add(client, stream, 10)
    client.xgroup_create(stream, "busy", id="0")
    read = deliver(client, stream, "x", 6, group="busy")
    client.xack(stream, "busy", *read[:3])
    client.xgroup_create(stream, "lagging", id=ids[1])

    first = safe_trim(client, stream)
    deliver(client, stream, "y", None, group="lagging")
    client.xack(stream, "lagging", *ids)
    second = safe_trim(client, stream)

    left: Any = client.xrange(stream)
    remaining = [entry_id.decode() for entry_id, _ in left]
    assert first == 2  # the lagging group still needs ids[2:]
    assert second == 1  # the busy group's pending ids[3:6] stay
    assert remaining == ids[3:]


def test_safe_trim_leaves_a_stream_without_groups_whole(client: redis.Redis, stream: str) -> None:
    add(client, stream, 5)

    assert safe_trim(client, stream) == 0
    assert client.xlen(stream) == 5


def test_entries_delivered_again_store_nothing_new(
    client: redis.Redis, ingest_config: RedisIngestConfig, stream: str, migrated_url: str
) -> None:
    ids = add(client, stream, 200)
    with running(ingest_config):
        wait_for(lambda: stored(migrated_url, stream) >= 200, "200 events")
    [last_before] = query(migrated_url, "SELECT max(global_position) FROM events")

    client.xgroup_setid(stream, GROUP, "0")
    with running(ingest_config) as again:
        wait_for(lambda: delivered_all(client, stream, ids[-1]), "the stream delivered again")

    duplicates = again.metrics.registry.get_sample_value(
        "tuskflow_consumer_events_total", {"source": "redis", "outcome": "duplicate"}
    )
    assert duplicates == 200
    assert stored(migrated_url, stream) == 200
    assert query(migrated_url, "SELECT max(global_position) FROM events") == [last_before]
    assert pending(client, stream) == 0


def delivered_all(client: redis.Redis, stream: str, last_id: str) -> bool:
    """True once the group has delivered up to ``last_id`` and acknowledged everything."""
    [group] = client.xinfo_groups(stream)
    return bool(group["last-delivered-id"].decode() == last_id and group["pending"] == 0)


def test_while_postgres_is_unreachable_nothing_is_acknowledged(
    client: redis.Redis, ingest_config: RedisIngestConfig, stream: str
) -> None:
    add(client, stream, 10)
    unreachable = "postgresql://postgres@127.0.0.1:9/none?connect_timeout=1"

    with running(replace(ingest_config, database_url=unreachable)) as ingestor:
        wait_for(lambda: retries(ingestor) >= 2, "two retries")

    assert pending(client, stream) == 10


def test_a_lost_redis_connection_is_retried_and_loses_nothing(
    client: redis.Redis, ingest_config: RedisIngestConfig, stream: str, migrated_url: str
) -> None:
    cut = replace(ingest_config, consumer=f"c-{uuid.uuid4().hex[:8]}", batch_size=20)

    with running(cut) as ingestor:
        for expected in range(100, 600, 100):
            add(client, stream, 100, start=expected - 100)
            cut_connection(client, client_name(cut))  # mostly while storing
            wait_for(partial(has_events, migrated_url, stream, expected), f"{expected} events")
            cut_connection(client, client_name(cut))  # mostly while blocked in XREADGROUP

    assert stored(migrated_url, stream) == 500
    assert dead_reasons(migrated_url) == {}
    assert pending(client, stream) == 0
    assert retries(ingestor) >= 1


def cut_connection(client: redis.Redis, name: str) -> None:
    """Close the server side of the connections named ``name``, as a network cut would."""

    def kill() -> int:
        killed = 0
        for connection in client.client_list():
            if connection.get("name") == name:
                with suppress(redis.ResponseError):  # closed in between
                    killed += client.client_kill_filter(_id=connection["id"])
        return killed

    wait_for(lambda: kill() > 0, f"a connection named {name} to cut")


def retries(ingestor: RedisIngestor) -> float:
    value = ingestor.metrics.registry.get_sample_value(
        "tuskflow_consumer_retries_total", {"source": "redis"}
    )
    return value or 0.0


def test_the_metrics_count_what_the_store_holds_as_soon_as_it_holds_it(
    client: redis.Redis, ingest_config: RedisIngestConfig, stream: str, migrated_url: str
) -> None:
    # Counted at the commit (as the Kafka consumer is); this consumer also settles a batch in
    # flight before it blocks on XREADGROUP (1 s here), so it never trailed: keep it so.
    add(client, stream, 2000)

    with running(replace(ingest_config, block_ms=1000, batch_size=300)) as ingestor:
        deadline = time.monotonic() + 20
        while stored(migrated_url, stream) < 2000:
            assert time.monotonic() < deadline, "2000 events not stored in 20 s"
            time.sleep(0.005)
        counted = ingestor.metrics.handled("new")
        # The lag is read after the XACK that follows the commit, before the next read.
        wait_for(lambda: ingestor.metrics.total_lag() == 0, "lag 0", timeout_s=0.5)
        per_second = ingestor.metrics.registry.get_sample_value(
            "tuskflow_consumer_events_per_second", {"source": "redis"}
        )

    assert counted == 2000
    assert per_second == 2000 / RATE_WINDOW_S
