"""Checks that run before anything is written: a refused append writes nothing."""

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from tuskflow.eventstore.errors import InvalidEventError
from tuskflow.eventstore.records import ExpectedVersion, NewEvent, StreamState

DEFAULT_MAX_EVENT_BYTES = 1024 * 1024
# A JSON \u0000 escape not itself escaped: PostgreSQL's jsonb cannot hold NUL.
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
# Built once: json.dumps with non-default options builds an encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def expected_version_code(expected: object) -> int:
    """-1 for ANY, 0 for NO_STREAM, N for version N; anything else is refused."""
    if expected is StreamState.ANY:
        return -1
    if expected is StreamState.NO_STREAM:
        return 0
    if isinstance(expected, int) and not isinstance(expected, bool) and expected >= 0:
        return expected
    raise InvalidEventError(
        f"unknown expected version {expected!r}: use a stream version (0 or more), NO_STREAM or ANY"
    )


def check_stream_id(stream_id: object) -> str:
    """A stream id is a non-empty string without surrounding whitespace."""
    if not isinstance(stream_id, str) or not stream_id.strip():
        raise InvalidEventError(f"stream id must be a non-empty string, got {stream_id!r}")
    if stream_id != stream_id.strip():
        raise InvalidEventError(f"stream id {stream_id!r} has surrounding whitespace")
    return stream_id


def encode_event(
    stream_id: str,
    event: NewEvent,
    max_bytes: int,
    data_json: str | None = None,
    metadata_json: str | None = None,
) -> tuple[str, str]:
    """The event's data and metadata as JSON text, refused if not JSON or over ``max_bytes``.

    ``data_json`` is the JSON text ``event.data`` was decoded from, when there is one (a consumer
    has it): it is stored as it is unless it holds a \\u escape, the only way valid JSON can
    hide text PostgreSQL refuses, in which case the data is encoded again and checked.
    ``metadata_json`` is ``event.metadata`` already encoded by a caller that built both (a
    consumer, from source coordinates it controls); it is stored as it is.
    """
    if not isinstance(event.event_type, str) or not event.event_type:
        raise InvalidEventError(f"event {event.event_id} in {stream_id!r} has no event type")
    if not isinstance(event.event_id, uuid.UUID):
        raise InvalidEventError(f"event_id must be a UUID, got {event.event_id!r}")
    data = _encoded(stream_id, event, "data", event.data, data_json)
    metadata = _encoded(stream_id, event, "metadata", event.metadata, metadata_json)
    size = _stored_size(stream_id, event, data) + _stored_size(stream_id, event, metadata)
    if size > max_bytes:
        raise InvalidEventError(
            f"event {event.event_id} ({event.event_type}) in {stream_id!r} is {size} bytes, "
            f"over the {max_bytes}-byte limit (TUSKFLOW_EVENT_MAX_BYTES)"
        )
    return data, metadata


def _encoded(stream_id: str, event: NewEvent, name: str, value: object, given: str | None) -> str:
    """One of the event's objects as JSON text: ``given`` when the caller had it, else encoded.

    Given data holding a \\u escape is encoded again: it may hide what PostgreSQL refuses.
    """
    if not isinstance(value, dict):
        raise InvalidEventError(
            f"{name} of event {event.event_id} ({event.event_type}) in {stream_id!r} "
            f"must be a JSON object, got {type(value).__name__}"
        )
    if given is not None and (name == "metadata" or "\\u" not in given):
        return given
    try:
        return _ENCODER.encode(value) if value else "{}"
    except (TypeError, ValueError) as exc:
        raise InvalidEventError(
            f"{name} of event {event.event_id} ({event.event_type}) in {stream_id!r} "
            f"is not JSON-serialisable: {exc}"
        ) from None


def _stored_size(stream_id: str, event: NewEvent, text: str) -> int:
    """Bytes of ``text`` in UTF-8, refusing what PostgreSQL cannot store."""
    try:
        size = len(text.encode())
    except UnicodeEncodeError:
        raise InvalidEventError(
            f"event {event.event_id} ({event.event_type}) in {stream_id!r} holds text that is not "
            "valid Unicode (a lone surrogate such as \\ud800)"
        ) from None
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        raise InvalidEventError(
            f"event {event.event_id} ({event.event_type}) in {stream_id!r} holds a NUL character "
            "(\\u0000), which PostgreSQL cannot store in JSON"
        )
    return size


def check_append(
    stream_id: object, events: Sequence[NewEvent], expected: ExpectedVersion, max_bytes: int
) -> tuple[str, int, list[tuple[str, str]]]:
    """Validate a whole append: stream id, expected version, every event; nothing partial."""
    checked_id = check_stream_id(stream_id)
    code = expected_version_code(expected)
    if not events:
        raise InvalidEventError(f"append to {checked_id!r} has no events")
    ids = [event.event_id for event in events]
    if len(set(ids)) != len(ids):
        raise InvalidEventError(f"append to {checked_id!r} repeats an event_id")
    return checked_id, code, [encode_event(checked_id, event, max_bytes) for event in events]


class PreparedEvent(NamedTuple):
    """An event checked for a stream, with its data and metadata already JSON text (a tuple:
    consumers make one per message)."""

    stream_id: str
    event: NewEvent
    data: str
    metadata: str


def prepare(
    stream_id: object,
    event: NewEvent,
    max_bytes: int,
    data_json: str | None = None,
    metadata_json: str | None = None,
) -> PreparedEvent:
    """Check an event bound for a stream and encode it once; InvalidEventError if it cannot be."""
    checked_id = check_stream_id(stream_id)
    data, metadata = encode_event(checked_id, event, max_bytes, data_json, metadata_json)
    return PreparedEvent(checked_id, event, data, metadata)


class CheckedAppend(NamedTuple):
    """One stream's part of a multi-stream append, checked: its expected version as a code
    (see expected_version_code) and its events' data and metadata as JSON text."""

    stream_id: str
    expected: ExpectedVersion
    code: int
    events: Sequence[NewEvent]
    encoded: list[tuple[str, str]]


def check_streams(
    requests: Mapping[str, tuple[ExpectedVersion, Sequence[NewEvent]]], max_bytes: int
) -> list[CheckedAppend]:
    """Validate a multi-stream append; its streams in stream-id order (the order of locking)."""
    if not requests:
        raise InvalidEventError("a multi-stream append names no stream")
    checked = []
    for stream_id, (expected, events) in requests.items():
        checked_id, code, encoded = check_append(stream_id, events, expected, max_bytes)
        checked.append(CheckedAppend(checked_id, expected, code, events, encoded))
    ids = [event.event_id for part in checked for event in part.events]
    if len(set(ids)) != len(ids):
        raise InvalidEventError("a multi-stream append repeats an event_id across its streams")
    return sorted(checked, key=lambda part: part.stream_id)
