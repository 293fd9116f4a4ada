"""What goes into the store and what comes out: frozen records."""

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

JsonObject = Mapping[str, Any]


class StreamState(enum.Enum):
    """Expected versions that are not a number."""

    ANY = "any"
    NO_STREAM = "no stream"


ANY = StreamState.ANY
NO_STREAM = StreamState.NO_STREAM

ExpectedVersion = int | StreamState


@dataclass(frozen=True)
class NewEvent:
    """An event to append. ``event_id`` is the idempotency key: stable for the same fact."""

    event_type: str
    data: JsonObject
    metadata: JsonObject = field(default_factory=dict)
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True)
class StreamEvent:
    """A new event bound for a stream: one item of a batch append."""

    stream_id: str
    event: NewEvent


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored: its global position and its version within its stream."""

    global_position: int
    stream_id: str
    stream_version: int
    event_id: uuid.UUID
    event_type: str
    data: JsonObject
    metadata: JsonObject
    recorded_at: datetime


class Appended(NamedTuple):
    """Where one event of an append landed; ``duplicate`` when it was stored before.

    A tuple, like Rejected: a batch append makes one per event.
    """

    event_id: uuid.UUID
    global_position: int
    stream_version: int
    duplicate: bool = False


class Rejected(NamedTuple):
    """A batch item not stored: its event_id is stored (or repeated) with other content."""

    event_id: uuid.UUID
    reason: str


@dataclass(frozen=True)
class BatchResult:
    """Per batch item, in order: Appended (new or duplicate) or Rejected."""

    items: tuple[Appended | Rejected, ...]

    @property
    def new(self) -> list[Appended]:
        """Items stored by this batch."""
        return [i for i in self.items if isinstance(i, Appended) and not i.duplicate]

    @property
    def duplicates(self) -> list[Appended]:
        """Items that were stored before, with their original positions."""
        return [i for i in self.items if isinstance(i, Appended) and i.duplicate]

    @property
    def rejected(self) -> list[Rejected]:
        """Items refused because their event_id is stored with other content."""
        return [i for i in self.items if isinstance(i, Rejected)]


def describe_expected(expected: ExpectedVersion) -> str:
    """How an expected version reads in a message."""
    return expected.value if isinstance(expected, StreamState) else str(expected)


@dataclass(frozen=True)
class Snapshot:
    """An aggregate's state as of ``stream_version`` of its stream."""

    stream_id: str
    stream_version: int
    state: JsonObject


@dataclass(frozen=True)
class SnapshotDue:
    """A stream whose version is ``every`` or more past its usable snapshot's (0: none)."""

    stream_id: str
    version: int
    snapshot_version: int


def category_end(category: str) -> str:
    """The first stream id after every id starting with ``category`` (a non-empty prefix), in
    code point order, which is the "C" collation's order of UTF-8 text."""
    return category[:-1] + chr(ord(category[-1]) + 1)


def snapshot_schema_of(snapshot: "Snapshot") -> object:
    """The schema an aggregate wrote its snapshot state with (AggregateRepository's layout)."""
    return snapshot.state.get("schema")


@dataclass(frozen=True)
class StoreStats:
    """Counts for `tuskflow store stats`."""

    events: int
    streams: int
    head_position: int
    snapshots: int
    dead_letters: int
    checkpoints: Mapping[str, int]


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not become an event, kept with the reason and where it came from.

    ``source_key`` names the message (kafka:topic/partition/offset, redis:stream/entry-id); a
    message that fails again counts another attempt on the same dead letter.
    """

    source: str
    source_key: str
    reason: str
    raw_payload: bytes | None
    raw_key: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    coordinates: JsonObject = field(default_factory=dict)


@dataclass(frozen=True)
class StoredDeadLetter:
    """A dead letter as stored, with its attempts and whether it was replayed."""

    id: int
    letter: DeadLetter
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    replayed_at: datetime | None
    replayed_position: int | None


@dataclass(frozen=True)
class LetterFilter:
    """Which dead letters an operator means; every field given must hold (None: any).

    ``origin`` is the Kafka topic or Redis stream, ``reason`` a case-insensitive substring,
    ``since`` and ``until`` bound when the letter first failed (``until`` exclusive).
    """

    source: str | None = None
    origin: str | None = None
    partition: int | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, stored: "StoredDeadLetter") -> bool:
        """Whether ``stored`` is one of them (the in-memory store's test; SQL says the same)."""
        letter, coordinates = stored.letter, stored.letter.coordinates
        return (
            (self.source is None or letter.source == self.source)
            and (self.origin is None or _origin(coordinates) == self.origin)
            and (self.partition is None or coordinates.get("partition") == self.partition)
            and (self.reason is None or self.reason.lower() in letter.reason.lower())
            and (self.since is None or stored.first_failed_at >= self.since)
            and (self.until is None or stored.first_failed_at < self.until)
        )


def _origin(coordinates: Mapping[str, Any]) -> Any:
    return coordinates.get("topic", coordinates.get("stream"))


class LetterOrigin(NamedTuple):
    """Where a message came from: kept as a dead letter, with the store's reason, if the store
    rejects the event it became (a tuple: a consumer makes one per message)."""

    source: str
    source_key: str
    raw_payload: bytes | None
    raw_key: bytes | None
    headers: Mapping[str, str]
    coordinates: JsonObject

    def letter(self, reason: str) -> DeadLetter:
        """The dead letter of this message, for ``reason``."""
        return DeadLetter(
            self.source,
            self.source_key,
            reason,
            self.raw_payload,
            self.raw_key,
            self.headers,
            self.coordinates,
        )


class OffsetAdvance(NamedTuple):
    """Move a partition from ``expected`` (None: no offset stored yet) to ``next_offset``."""

    topic: str
    partition: int
    expected: int | None
    next_offset: int


@dataclass(frozen=True)
class SourceProgress:
    """A consumer group's source offsets after a batch: a compare-and-set per partition."""

    group: str
    advances: tuple[OffsetAdvance, ...]


@dataclass(frozen=True)
class BatchWritten:
    """What one write_batch stored: each event item's outcome, in order, and the dead letters
    recorded (those given, and one per rejected item that carried its origin)."""

    result: BatchResult
    dead_letters: int

    @property
    def new(self) -> int:
        """Events stored by this batch."""
        return len(self.result.new)

    @property
    def duplicates(self) -> int:
        """Events that were stored before."""
        return len(self.result.duplicates)

    @property
    def rejected(self) -> int:
        """Events the store refused."""
        return len(self.result.rejected)
