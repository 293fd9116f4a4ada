"""From an external message to an event, or to a dead letter with the reason it cannot be one.

A mapping names where each part comes from, in a form that fits a flag or a YAML line:
- stream id: ``key`` (the message key) or ``field:<path>`` (a dotted path into the JSON payload),
  with an optional prefix;
- event type: ``header:<name>``, ``field:<path>`` or ``fixed:<Type>``;
- event id: ``source`` (derived from the source coordinates: topic/partition/offset or the Redis
  entry id), ``header:<name>`` or ``field:<path>`` (a producer-supplied id).
The event id is stable for the same source message, so a re-delivered message is stored once.
"""

import json
import uuid
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


class MappingSpec(BaseModel):
    """How messages of one source become events."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stream: str = Field("key", pattern=r"^(key|field:[^\s]+)$")
    stream_prefix: str = ""
    event_type: str = Field("field:type", pattern=r"^(header|field|fixed):[^\s]+$")
    event_id: str = Field("source", pattern=r"^(source|(header|field):[^\s]+)$")
    accepted_types: tuple[str, ...] | None = None

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
        text, payload = _payload(message)
        stream_id = spec.stream_prefix + _stream_id(spec, message, payload)
        event_type = _required(spec.event_type, message, payload, "event type")
        if spec.accepted_types is not None and event_type not in spec.accepted_types:
            raise _PoisonError(f"event type {event_type!r} is not one this mapping accepts")
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
    kind, name = _part(source)
    if kind == "fixed":
        return name
    value = message.headers.get(name) if kind == "header" else _field(payload, name)
    if value is None or value == "" or isinstance(value, dict | list | bool):
        raise _PoisonError(f"missing {what}: no usable {kind} {name!r} in the message")
    return str(value)


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
