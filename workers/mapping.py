"""From an external message to an event, or to a dead letter with the reason it cannot be one.

A mapping names where each part comes from, in a form that fits a flag or a YAML line:
- payload (Redis only): ``field:<name>``, the JSON text in one entry field (``field:data`` by
  default), or ``entry``, the entry itself as a JSON object of its fields, their values strings
  unless ``field_types`` reads one as JSON of a kind. A Kafka message's payload is its value.
- stream id: ``key`` (the message key; for Redis the entry field ``key``), ``header:<name>`` (a
  Kafka header, or a Redis entry field other than the payload's) or ``field:<path>`` (a dotted
  path into the JSON payload), with an optional prefix;
- event type: ``header:<name>``, ``field:<path>`` or ``fixed:<Type>``; when the header or field
  is absent (or null, or empty) the type is the source's name, the Kafka topic or the Redis
  stream, so that plain readings are stored rather than dead-lettered; ``accepted_types`` is how
  a mapping refuses types it does not expect;
- event id: ``source`` (derived from the source coordinates: topic/partition/offset or the Redis
  entry id), ``header:<name>`` or ``field:<path>`` (a producer-supplied id).
The event id is stable for the same source message, so a re-delivered message is stored once.
"""

import json
import math
import uuid
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tuskflow.config.errors import ConfigError
from tuskflow.eventstore import InvalidEventError, NewEvent
from tuskflow.eventstore.ids import stable_ids
from tuskflow.eventstore.records import DeadLetter, LetterOrigin
from tuskflow.eventstore.validation import PreparedEvent, prepare

# Event ids derived from source coordinates or producer ids live in this UUIDv5 namespace.
EVENT_ID_NAMESPACE = uuid.UUID("5b0b6a4e-4f1e-4d43-9d1e-7475736b666c")
# uuid.uuid5(EVENT_ID_NAMESPACE, name), the namespace hashed once.
stable_id = stable_ids(EVENT_ID_NAMESPACE)
# Most messages carry no headers: they share this one empty, read-only mapping.
NO_HEADERS: Mapping[str, str] = MappingProxyType({})
# What a Redis entry field declared in field_types holds, as JSON text.
FieldType = Literal["integer", "number", "boolean", "json"]
_NOT_JSON = object()
_FIELD_KINDS: dict[str, tuple[type, ...]] = {
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "json": (object,),
}


class MappingSpec(BaseModel):
    """How messages of one source become events."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    redis_payload: str = Field("field:data", pattern=r"^(entry|field:[^\s]+)$")
    field_types: dict[str, FieldType] = Field(default_factory=dict)
    stream: str = Field("key", pattern=r"^(key|(header|field):[^\s]+)$")
    stream_prefix: str = ""
    event_type: str = Field("field:type", pattern=r"^(header|field|fixed):[^\s]+$")
    event_id: str = Field("source", pattern=r"^(source|(header|field):[^\s]+)$")
    accepted_types: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _field_types_need_the_entry_payload(self) -> "MappingSpec":
        if self.field_types and self.redis_payload != "entry":
            raise ValueError("field_types type the fields of redis_payload: entry, not set here")
        return self

    @property
    def whole_entry(self) -> bool:
        """Whether a Redis entry's payload is the entry itself, all its fields."""
        return self.redis_payload == "entry"

    @property
    def payload_field(self) -> str:
        """The Redis entry field that holds the JSON payload ('' for the whole entry)."""
        return self.redis_payload.removeprefix("field:") if not self.whole_entry else ""

    @classmethod
    def from_yaml(cls, path: Path) -> "MappingSpec":
        """Read a mapping file; every problem is reported with its key."""
        try:
            raw = yaml.safe_load(path.read_text()) or {}
            return cls.model_validate(raw)
        except OSError as exc:
            raise ConfigError(f"mapping file {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"mapping file {path} is not valid YAML: {exc}") from None
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(file)'}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"mapping file {path}: {problems}") from None


class SourceMessage(NamedTuple):
    """A message as a source delivered it, before mapping (a tuple: one is made per message)."""

    source: str
    source_key: str
    coordinates: dict[str, Any]
    key: bytes | None
    value: bytes | None
    headers: Mapping[str, str] = NO_HEADERS


class _PoisonError(Exception):
    """Why a message cannot become an event."""


def map_message(
    spec: MappingSpec, message: SourceMessage, max_bytes: int
) -> PreparedEvent | DeadLetter:
    """The message as an event checked for its stream, or a dead letter saying why not."""
    try:
        text, payload = (
            _entry_payload(spec, message) if _is_entry(spec, message) else _payload(message)
        )
        stream_id = spec.stream_prefix + _stream_id(spec, message, payload)
        event_type = _event_type(spec, message, payload)
        metadata = _metadata(message)
        event = NewEvent(event_type, payload, metadata, _event_id(spec, message, payload))
        metadata_json = orjson.dumps(metadata).decode()
        return prepare(stream_id, event, max_bytes, data_json=text, metadata_json=metadata_json)
    except (_PoisonError, InvalidEventError) as exc:
        return dead_letter(message, str(exc))


def dead_letter(message: SourceMessage, reason: str) -> DeadLetter:
    """The dead letter that keeps ``message`` whole, with ``reason``."""
    return origin(message).letter(reason)


def origin(message: SourceMessage) -> LetterOrigin:
    """Where ``message`` came from, whole: the dead letter the store keeps if it rejects it."""
    return LetterOrigin(
        message.source,
        message.source_key,
        message.value,
        message.key,
        message.headers,
        message.coordinates,
    )


def _payload(message: SourceMessage) -> tuple[str, dict[str, Any]]:
    if message.value is None:
        raise _PoisonError("empty message (no payload)")
    try:
        text = message.value.decode()
    except UnicodeDecodeError:
        raise _PoisonError("payload is not UTF-8 text") from None
    try:
        payload = _decode(text)
    except ValueError as exc:
        raise _PoisonError(f"payload is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise _PoisonError(f"payload is a JSON {type(payload).__name__}, not an object")
    return text, payload


def _decode(text: str) -> Any:
    """orjson on the hot path, the standard parser where its result or its message matters.

    Text with a \\u escape may have its data encoded again from the decoded value, and orjson
    reads an integer past 64 bits as a float, so such text is decoded exactly; text orjson
    refuses is decoded again for the standard parser's clearer reason ("NaN is not a JSON
    value"). Otherwise the decoded value is only looked into (stream id, type, id fields): the
    stored data is the text as received.
    """
    if "\\u" not in text:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _stream_id(spec: MappingSpec, message: SourceMessage, payload: dict[str, Any]) -> str:
    if spec.stream == "key":
        if not message.key:
            raise _PoisonError("missing stream key: the message has no key")
        try:
            return message.key.decode()
        except UnicodeDecodeError:
            raise _PoisonError("stream key is not UTF-8 text") from None
    return _required(spec.stream, message, payload, "stream id")


def _required(source: str, message: SourceMessage, payload: dict[str, Any], what: str) -> str:
    value = _looked_up(source, message, payload, what)
    if value is None:
        kind, name = _part(source)
        raise _PoisonError(f"missing {what}: no usable {kind} {name!r} in the message")
    return value


def _looked_up(
    source: str, message: SourceMessage, payload: dict[str, Any], what: str
) -> str | None:
    """The text ``source`` names in the message, None when absent, null or empty."""
    kind, name = _part(source)
    if kind == "fixed":
        return name
    value = message.headers.get(name) if kind == "header" else _field(payload, name)
    if value is None or value == "":
        return None
    if isinstance(value, dict | list | bool):
        raise _PoisonError(f"unusable {what}: {kind} {name!r} is {_json_kind(value)}, not text")
    return str(value)


def _event_type(spec: MappingSpec, message: SourceMessage, payload: dict[str, Any]) -> str:
    """The type the mapping's rule finds, else the source's name (the topic or stream)."""
    found = _looked_up(spec.event_type, message, payload, "event type")
    event_type = source_name(message) if found is None else found
    if spec.accepted_types is not None and event_type not in spec.accepted_types:
        kind, name = _part(spec.event_type)
        how = "" if found is not None else f" (the source's name: no {kind} {name!r})"
        raise _PoisonError(f"event type {event_type!r}{how} is not one this mapping accepts")
    return event_type


def source_name(message: SourceMessage) -> str:
    """The Kafka topic or Redis stream a message came from."""
    return str(message.coordinates.get("topic") or message.coordinates.get("stream") or "")


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return "an object" if isinstance(value, dict) else "a list"


def _is_entry(spec: MappingSpec, message: SourceMessage) -> bool:
    return spec.whole_entry and message.source == "redis"


def _entry_payload(spec: MappingSpec, message: SourceMessage) -> tuple[str, dict[str, Any]]:
    """A Redis entry as a JSON object of its fields (the key field among them), typed as the
    mapping declares, and that object's text."""
    payload: dict[str, Any] = dict(message.headers)
    if message.key is not None and "key" not in payload:
        payload["key"] = message.key.decode(errors="replace")
    for name, kind in spec.field_types.items():
        if name in payload:
            payload[name] = _typed(name, payload[name], kind)
    try:
        return orjson.dumps(payload).decode(), payload
    except TypeError as exc:  # a lone surrogate cannot be encoded
        raise _PoisonError(f"entry cannot be JSON: {exc}") from None


def _typed(name: str, text: str, kind: str) -> Any:
    """The field's text read as JSON of ``kind``; anything else is poison, never a guess."""
    try:
        value = _decode(text)
    except ValueError:
        value = _NOT_JSON
    numeric = kind in ("integer", "number")
    if (
        not isinstance(value, _FIELD_KINDS[kind])
        or value is _NOT_JSON
        or (numeric and isinstance(value, bool))
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        article = "an" if kind[0] in "ai" else "a"
        raise _PoisonError(f"entry field {name!r} is not {article} {kind}: {text!r}")
    return value


@cache
def _part(source: str) -> tuple[str, str]:
    """``kind:name`` split once per mapping, not once per message."""
    kind, _, name = source.partition(":")
    return kind, name


def _field(payload: dict[str, Any], path: str) -> Any:
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _event_id(spec: MappingSpec, message: SourceMessage, payload: dict[str, Any]) -> uuid.UUID:
    if spec.event_id == "source":
        return stable_id(message.source_key)
    supplied = _required(spec.event_id, message, payload, "event id")
    try:
        return uuid.UUID(supplied)
    except ValueError:
        return stable_id(f"producer:{supplied}")


def _metadata(message: SourceMessage) -> dict[str, Any]:
    metadata: dict[str, Any] = {"source": message.source, **message.coordinates}
    if message.key is not None:
        metadata["key"] = message.key.decode(errors="replace")
    return metadata
