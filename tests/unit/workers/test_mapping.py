"""Mapping messages to events: where each part comes from, and every way a message is poison."""

import json
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from tuskflow.config.errors import ConfigError
from tuskflow.eventstore.records import DeadLetter
from tuskflow.eventstore.validation import PreparedEvent
from tuskflow.workers.mapping import (
    EVENT_ID_NAMESPACE,
    MappingSpec,
    SourceMessage,
    map_message,
    stable_id,
)


def _message(value: object, key: bytes | None = b"meter-7", **headers: str) -> SourceMessage:
    raw = value if isinstance(value, bytes) or value is None else json.dumps(value).encode()
    return SourceMessage(
        source="kafka",
        source_key="kafka:readings/2/41",
        coordinates={"topic": "readings", "partition": 2, "offset": 41},
        key=key,
        value=raw,
        headers=dict(headers),
    )


def _event(spec: MappingSpec, message: SourceMessage) -> PreparedEvent:
    mapped = map_message(spec, message, 4096)
    assert isinstance(mapped, PreparedEvent), mapped
    return mapped


@pytest.mark.parametrize(
    "name", ["kafka:readings/2/41", "producer:order-17", "redis:s/1-0", "", "ключ-✓", "x" * 300]
)
def test_stable_id_is_the_uuid5_of_the_name_in_the_event_id_namespace(name: str) -> None:
    assert stable_id(name) == uuid.uuid5(EVENT_ID_NAMESPACE, name)


def test_default_mapping_takes_stream_from_key_type_from_field_id_from_coordinates() -> None:
    mapped = _event(MappingSpec(), _message({"type": "Measured", "kwh": 3}))

    assert mapped.stream_id == "meter-7"
    assert mapped.event.event_type == "Measured"
    assert mapped.event.data == {"type": "Measured", "kwh": 3}
    assert mapped.event.event_id == uuid.uuid5(EVENT_ID_NAMESPACE, "kafka:readings/2/41")
    assert mapped.event.metadata == {
        "source": "kafka", "topic": "readings", "partition": 2, "offset": 41, "key": "meter-7",
    }  # fmt: skip


def test_payload_text_is_stored_as_received_unless_it_holds_escapes() -> None:
    plain = _event(MappingSpec(), _message(b'{"type": "T",  "v": 1}'))
    escaped = _event(MappingSpec(), _message(b'{"type": "T", "v": "caf\\u00e9"}'))

    assert plain.data == '{"type": "T",  "v": 1}'
    assert escaped.data == '{"type":"T","v":"caf\u00e9"}'
    assert escaped.event.data == {"type": "T", "v": "caf\u00e9"}


def test_same_source_message_always_gets_the_same_event_id() -> None:
    first = _event(MappingSpec(), _message({"type": "Measured"}))
    again = _event(MappingSpec(), _message({"type": "Measured"}))

    assert first.event.event_id == again.event.event_id


def test_stream_from_a_nested_field_with_prefix_and_type_from_header_or_fixed() -> None:
    by_header = MappingSpec(
        stream="field:meter.id", stream_prefix="meter-", event_type="header:ce_type"
    )
    fixed = MappingSpec(stream="field:meter.id", event_type="fixed:Reading")
    message = _message({"meter": {"id": 12}}, key=None, ce_type="Measured")

    assert _event(by_header, message).stream_id == "meter-12"
    assert _event(by_header, message).event.event_type == "Measured"
    assert _event(fixed, message).event.event_type == "Reading"


def test_producer_supplied_ids_are_used_as_uuids_or_hashed_into_one() -> None:
    spec = MappingSpec(event_id="field:id")
    given = uuid.uuid4()

    as_uuid = _event(spec, _message({"type": "T", "id": str(given)}))
    hashed = _event(spec, _message({"type": "T", "id": "order-17"}))

    assert as_uuid.event.event_id == given
    assert hashed.event.event_id == uuid.uuid5(EVENT_ID_NAMESPACE, "producer:order-17")


@pytest.mark.parametrize(
    ("spec", "message", "reason"),
    [
        (MappingSpec(), _message(None), "empty message"),
        (MappingSpec(), _message(b"\xff\xfe"), "not UTF-8"),
        (MappingSpec(), _message(b"{not json"), "not JSON"),
        (MappingSpec(), _message([1, 2]), "JSON list, not an object"),
        (MappingSpec(), _message({"type": "T"}, key=None), "missing stream key"),
        (
            MappingSpec(accepted_types=("Measured",)),
            _message({"kwh": 3}),
            "event type 'readings' (the source's name: no field 'type') is not one this mapping",
        ),
        (MappingSpec(), _message({"type": {"nested": 1}}), "field 'type' is an object, not text"),
        (MappingSpec(), _message({"type": True}), "field 'type' is a boolean, not text"),
        (MappingSpec(stream="field:meter"), _message({"type": "T"}), "missing stream id"),
        (MappingSpec(event_id="header:msg-id"), _message({"type": "T"}), "missing event id"),
        (MappingSpec(), _message({"type": "T", "blob": "x" * 5000}), "over the 4096-byte limit"),
        (MappingSpec(), _message(b'{"type": "T", "v": NaN}'), "NaN is not a JSON value"),
        (MappingSpec(), _message(b'{"type": "T", "v": -Infinity}'), "-Infinity is not a JSON"),
        (MappingSpec(), _message(b'{"type": "T", "v": "a\\u0000b"}'), "NUL character"),
        (MappingSpec(), _message(b'{"type": "T", "v": "\\ud800"}'), "lone surrogate"),
        (
            MappingSpec(accepted_types=("Measured",)),
            _message({"type": "Deleted"}),
            "not one this mapping accepts",
        ),
    ],
)
def test_poison_message_becomes_a_dead_letter_with_its_reason_and_raw_bytes(
    spec: MappingSpec, message: SourceMessage, reason: str
) -> None:
    mapped = map_message(spec, message, 4096)

    assert isinstance(mapped, DeadLetter)
    assert reason in mapped.reason
    assert mapped.source_key == "kafka:readings/2/41"
    assert mapped.raw_payload == message.value
    assert mapped.raw_key == message.key
    assert mapped.coordinates == message.coordinates


@pytest.mark.parametrize(
    ("field", "value"),
    [("stream", "value"), ("event_type", "type"), ("event_type", "fixed:"), ("event_id", "random")],
)
def test_malformed_mapping_is_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        MappingSpec(**{field: value})


def test_mapping_file_problems_name_the_key(tmp_path: Path) -> None:
    good, bad, broken = tmp_path / "good.yaml", tmp_path / "bad.yaml", tmp_path / "broken.yaml"
    good.write_text("stream: field:meter\nevent_type: fixed:Reading\n")
    bad.write_text("stream: value\nextra: 1\n")
    broken.write_text("stream: [unclosed\n")

    assert MappingSpec.from_yaml(good).event_type == "fixed:Reading"
    with pytest.raises(ConfigError, match=r"stream: String should match.*extra: Extra inputs"):
        MappingSpec.from_yaml(bad)
    with pytest.raises(ConfigError, match="not valid YAML"):
        MappingSpec.from_yaml(broken)
    with pytest.raises(ConfigError, match="No such file"):
        MappingSpec.from_yaml(tmp_path / "missing.yaml")


@pytest.mark.parametrize("absent", [{}, {"type": None}, {"type": ""}])
def test_an_absent_event_type_is_the_topic_or_stream_name(absent: dict[str, object]) -> None:
    from_kafka = _event(MappingSpec(), _message({"kwh": 3, **absent}))
    from_redis = _event(MappingSpec(), _redis_entry(data='{"kwh": 3}', key="dev-1"))

    assert from_kafka.event.event_type == "readings"
    assert from_redis.event.event_type == "sensor:readings"


def test_stream_id_and_type_from_headers_as_kafka_and_redis_give_them() -> None:
    spec = MappingSpec(stream="header:device", event_type="header:kind")
    kafka = _message({"kwh": 3}, key=None, device="dev-1", kind="Measured")
    redis = _redis_entry(data='{"kwh": 3}', device="dev-2", kind="Measured")

    assert (_event(spec, kafka).stream_id, _event(spec, kafka).event.event_type) == (
        "dev-1",
        "Measured",
    )
    assert _event(spec, redis).stream_id == "dev-2"


def _redis_entry(data: str | None = None, key: str | None = None, **fields: str) -> SourceMessage:
    """A Redis entry as the consumer hands it on: key field, payload field, other fields."""
    return SourceMessage(
        source="redis",
        source_key="redis:sensor:readings/1-0",
        coordinates={"stream": "sensor:readings", "entry_id": "1-0"},
        key=None if key is None else key.encode(),
        value=None if data is None else data.encode(),
        headers=fields,
    )


def test_a_whole_entry_is_a_json_object_of_its_fields_as_strings_unless_typed() -> None:
    spec = MappingSpec(
        redis_payload="entry",
        stream="field:device",
        field_types={"kwh": "number", "n": "integer", "ok": "boolean", "tags": "json"},
    )
    entry = _redis_entry(device="dev-1", kwh="1.5", n="7", ok="true", tags='["a"]', note="12")

    mapped = _event(spec, entry)

    assert mapped.stream_id == "dev-1"
    assert mapped.event.event_type == "sensor:readings"
    assert mapped.event.data == {
        "device": "dev-1", "kwh": 1.5, "n": 7, "ok": True, "tags": ["a"], "note": "12",
    }  # fmt: skip
    assert json.loads(mapped.data) == mapped.event.data


def test_a_whole_entry_keeps_its_key_field_among_its_fields() -> None:
    spec = MappingSpec(redis_payload="entry")

    mapped = _event(spec, _redis_entry(key="dev-1", kwh="1"))

    assert mapped.stream_id == "dev-1"
    assert mapped.event.data == {"kwh": "1", "key": "dev-1"}


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("integer", "0x10"),
        ("integer", "1.5"),
        ("integer", "true"),
        ("integer", "+17"),
        ("number", "abc"),
        ("number", "1e400"),
        ("number", "NaN"),
        ("boolean", "1"),
        ("json", "{not json"),
    ],
)
def test_a_typed_entry_field_that_is_not_its_kind_is_a_dead_letter(kind: str, text: str) -> None:
    spec = MappingSpec.model_validate({"redis_payload": "entry", "field_types": {"v": kind}})
    entry = _redis_entry(key="dev-1", v=text)

    mapped = map_message(spec, entry, 4096)

    assert isinstance(mapped, DeadLetter)
    assert mapped.reason.startswith("entry field 'v' is not a")
    assert mapped.headers == {"v": text}


def test_field_types_without_the_whole_entry_payload_are_refused() -> None:
    with pytest.raises(ValidationError, match="field_types type the fields of redis_payload"):
        MappingSpec.model_validate({"field_types": {"kwh": "number"}})


def test_the_example_mappings_read_and_map_the_entries_their_comments_show() -> None:
    examples = Path(__file__).parents[3] / "examples"
    field_layout = MappingSpec.from_yaml(examples / "mapping.yaml")
    entry_layout = MappingSpec.from_yaml(examples / "mapping-redis-entry.yaml")

    in_data = _event(field_layout, _redis_entry(data='{"type":"Measured","kwh":1}', key="meter-1"))
    whole = _event(entry_layout, _redis_entry(device="dev-1", kwh="1.5", site="north"))

    assert (in_data.stream_id, in_data.event.data) == ("meter-1", {"type": "Measured", "kwh": 1})
    assert (whole.stream_id, whole.event.event_type) == ("dev-1", "sensor:readings")
    assert whole.event.data == {"device": "dev-1", "kwh": 1.5, "site": "north"}
