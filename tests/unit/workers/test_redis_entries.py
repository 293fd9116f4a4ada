"""A Redis entry as the mapping sees it, in either payload layout; a Kafka consumer refuses the
whole-entry layout."""

import pytest

from tuskflow.config.errors import ConfigError
from tuskflow.workers.ingest_configs import KafkaIngestConfig, RedisIngestConfig
from tuskflow.workers.mapping import MappingSpec
from tuskflow.workers.redis_consumer import split_batch


def _config(**mapping: str) -> RedisIngestConfig:
    return RedisIngestConfig(
        redis_url="redis://127.0.0.1:1",
        stream="readings",
        group="g",
        consumer="c",
        mapping=MappingSpec.model_validate(mapping),
        database_url="postgresql://127.0.0.1:1/x",
        max_event_bytes=4096,
    )


def test_the_default_layout_takes_data_as_payload_key_as_key_and_the_rest_as_headers() -> None:
    fields = {b"key": b"dev-1", b"data": b'{"kwh": 1}', b"site": b"north"}

    [message], letters = split_batch(_config(), [("1-0", fields)], {})

    assert (message.key, message.value, dict(message.headers)) == (
        b"dev-1",
        b'{"kwh": 1}',
        {"site": "north"},
    )
    assert letters == []


def test_an_entry_without_its_payload_field_names_its_fields_and_the_entry_layout() -> None:
    [], [letter] = split_batch(_config(), [("1-0", {b"device": b"d", b"kwh": b"1"})], {})

    assert letter.reason == (
        "no field 'data' in the entry (its fields: 'device', 'kwh'); the mapping reads the JSON "
        "payload from field 'data' (redis_payload: field:data), the key from field 'key'; to "
        "store the entry's fields as its data, map with redis_payload: entry"
    )
    assert dict(letter.headers) == {"device": "d", "kwh": "1"}


def test_the_payload_field_is_the_mappings_to_name() -> None:
    [message], _ = split_batch(
        _config(redis_payload="field:body"), [("1-0", {b"body": b"{}", b"data": b"x"})], {}
    )

    assert (message.value, dict(message.headers)) == (b"{}", {"data": "x"})


def test_the_whole_entry_layout_hands_every_field_on_and_refuses_bytes_that_are_not_text() -> None:
    entries = [
        ("1-0", {b"device": b"dev-1", b"kwh": b"1", b"key": b"k"}),
        ("2-0", {b"device": b"dev-\xff", b"kwh": b"1"}),
    ]

    [message], [letter] = split_batch(_config(redis_payload="entry"), entries, {})

    assert (message.key, message.value) == (b"k", None)
    assert dict(message.headers) == {"device": "dev-1", "kwh": "1", "key": "k"}
    assert letter.reason == "entry field 'device' is not UTF-8 text (kept escaped as \\xNN)"
    assert dict(letter.headers) == {"device": "dev-\\xff", "kwh": "1"}


def test_a_kafka_consumer_refuses_the_whole_entry_layout() -> None:
    with pytest.raises(ConfigError, match="redis_payload: entry is for Redis entries"):
        KafkaIngestConfig(
            bootstrap="127.0.0.1:1",
            topics=("t",),
            group="g",
            mapping=MappingSpec(redis_payload="entry"),
            database_url="postgresql://127.0.0.1:1/x",
            max_event_bytes=4096,
        )
