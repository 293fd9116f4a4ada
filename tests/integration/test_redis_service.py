"""The Redis that tests use is a real server with streams and consumer groups."""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url, decode_responses=True) as connection:
        yield connection


def _entries(reply: Any) -> list[tuple[str, dict[str, str]]]:
    """The (id, fields) entries of a one-stream XREADGROUP reply."""
    [(_stream, entries)] = reply
    return [(entry_id, fields) for entry_id, fields in entries]


def test_consumer_group_reads_acknowledges_and_replays_pending(client: redis.Redis) -> None:
    stream, group = f"test:{uuid.uuid4().hex}", "loaders"
    client.xgroup_create(stream, group, id="0", mkstream=True)
    try:
        sent = [client.xadd(stream, {"n": str(n)}) for n in range(10)]

        delivered = _entries(client.xreadgroup(group, "worker-1", {stream: ">"}, count=100))
        ids = [entry_id for entry_id, _ in delivered]
        acked = client.xack(stream, group, *ids[:6])
        pending: Any = client.xpending(stream, group)
        replayed = _entries(client.xreadgroup(group, "worker-1", {stream: "0"}, count=100))

        assert ids == sent
        assert [fields["n"] for _, fields in delivered] == [str(n) for n in range(10)]
        assert acked == 6
        assert pending["pending"] == 4
        assert [entry_id for entry_id, _ in replayed] == sent[6:]
    finally:
        client.delete(stream)
