"""Redis Streams into the event store, exactly once in effect.

One consumer of a consumer group, named stably by the caller, so that after a crash it finds the
entries it was given and never acknowledged. Order of work: create the group if missing; replay
this consumer's own pending entries; then loop: every ``claim_every_s`` take over entries idle
too long on any consumer (XAUTOCLAIM), then read new entries (XREADGROUP ">").

Each batch follows workers.ingest's commit order: its events and dead letters commit in one
PostgreSQL transaction, and only then is every entry of the batch XACKed. Event ids derive from
the entry ids, so an entry delivered again is absorbed as a duplicate. An entry delivered more
than ``max_deliveries`` times becomes a dead letter instead of an event. While PostgreSQL is down
the batch stays in hand, unacknowledged, and is retried with backoff. After a Redis error the
consumer backs off and replays its own pending entries, which recovers both a read whose reply
was lost and an acknowledgement that never arrived.
"""

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis
import structlog
from redis.backoff import NoBackoff
from redis.retry import Retry

from tuskflow.config.errors import RetryableError
from tuskflow.eventstore.postgres.store import PostgresEventStore
from tuskflow.eventstore.records import DeadLetter
from tuskflow.workers.ingest import (
    BatchOutcome,
    BatchWriter,
    MappedBatch,
    map_batch,
    store_batch,
)
from tuskflow.workers.ingest_configs import RedisIngestConfig
from tuskflow.workers.mapping import NO_HEADERS, SourceMessage, dead_letter
from tuskflow.workers.metrics import ConsumerMetrics
from tuskflow.workers.outage import Backoff, PostgresOutage

log = structlog.get_logger(__name__)
Fields = dict[bytes, bytes]
Entry = tuple[str, Fields]
StreamId = tuple[int, int]
_REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)
_MAX_SEQUENCE = 2**64 - 1
_DELETED = "entry was deleted from the stream before it was stored"


@dataclass(frozen=True)
class _Layout:
    """Where an entry's parts are, as the field names Redis returns (bytes), worked out once
    per batch rather than once per entry."""

    stream: str
    key: bytes
    payload: bytes  # b"" in the whole-entry layout

    @classmethod
    def of(cls, config: RedisIngestConfig) -> "_Layout":
        return cls(config.stream, config.key_field.encode(), config.mapping.payload_field.encode())


def source_message(config: RedisIngestConfig, entry_id: str, fields: Fields) -> SourceMessage:
    """A stream entry as the mapping sees it, named by stream and entry id: its key field is
    the key; the payload field (in the default layout) the value; the other fields headers, all
    of them in the whole-entry layout. Headers of bytes that are not UTF-8 are escaped (\\xNN):
    split_batch dead-letters such an entry when its fields are its payload."""
    return _message(_Layout.of(config), entry_id, fields)


def _message(layout: _Layout, entry_id: str, fields: Fields) -> SourceMessage:
    key, payload = layout.key, layout.payload
    value = fields.get(payload) if payload else None
    key_value = fields.get(key)
    extra = len(fields) - (value is not None) - (bool(payload) and key_value is not None)
    return SourceMessage(
        "redis",
        f"redis:{layout.stream}/{entry_id}",
        {"stream": layout.stream, "entry_id": entry_id},
        key_value,
        value,
        _headers(fields, (payload, key) if payload else ()) if extra else NO_HEADERS,
    )


def _headers(fields: Fields, kept: tuple[bytes, ...]) -> dict[str, str]:
    return {
        name.decode(errors="backslashreplace"): text.decode(errors="backslashreplace")
        for name, text in fields.items()
        if name not in kept
    }


def split_batch(
    config: RedisIngestConfig, entries: list[Entry], deliveries: dict[str, int]
) -> tuple[list[SourceMessage], list[DeadLetter]]:
    """The entries to map, and the dead letters of those that cannot be mapped: deleted,
    delivered too often, without their payload field, or (whole-entry layout) not text."""
    layout = _Layout.of(config)
    limit = config.max_deliveries
    messages: list[SourceMessage] = []
    letters: list[DeadLetter] = []
    for entry_id, fields in entries:
        message = _message(layout, entry_id, fields)
        if message.value is not None and deliveries.get(entry_id, 1) <= limit:
            messages.append(message)  # the default layout's every entry, nearly
            continue
        reason = _unmappable(config, layout, fields, deliveries.get(entry_id, 1))
        if reason is None:
            messages.append(message)
        else:
            letters.append(dead_letter(message, reason))
    return messages, letters


def _unmappable(
    config: RedisIngestConfig, layout: _Layout, fields: Fields, delivered: int
) -> str | None:
    limit = config.max_deliveries
    if not fields:  # XADD needs a field, so no fields means the entry is gone
        return _DELETED
    if delivered > limit:
        return f"delivered {delivered} times, over the limit of {limit}"
    if layout.payload and layout.payload not in fields:
        return _missing_payload(config, fields)
    if not layout.payload:
        return _undecodable(fields)
    return None


def _undecodable(fields: Fields) -> str | None:
    for name, text in fields.items():
        try:
            name.decode()
            text.decode()
        except UnicodeDecodeError:
            shown = name.decode(errors="backslashreplace")
            return f"entry field {shown!r} is not UTF-8 text (kept escaped as \\xNN)"
    return None


def _missing_payload(config: RedisIngestConfig, fields: Fields) -> str:
    names = ", ".join(sorted(repr(name.decode(errors="replace")) for name in fields))
    payload = config.mapping.payload_field
    return (
        f"no field {payload!r} in the entry (its fields: {names}); the mapping reads the JSON "
        f"payload from field {payload!r} (redis_payload: field:{payload}), the key from field "
        f"{config.key_field!r}; to store the entry's fields as its data, map with "
        "redis_payload: entry"
    )


def safe_trim(client: redis.Redis, stream: str) -> int:
    """XTRIM MINID (exact) below the oldest entry any group still needs; return how many went.

    A group needs its pending entries and every entry after its last-delivered-id. A stream with
    no group is left whole: no one has said what they are done with.
    """
    if not client.exists(stream):
        return 0
    needed = [_needed_by(client, stream, group) for group in client.xinfo_groups(stream)]
    if not needed:
        return 0
    oldest = min(needed)
    return int(client.xtrim(stream, minid=f"{oldest[0]}-{oldest[1]}", approximate=False))


def _needed_by(client: redis.Redis, stream: str, group: dict[str, Any]) -> StreamId:
    oldest = _successor(_parse_id(group["last-delivered-id"]))
    if group["pending"]:
        smallest = client.xpending(stream, group["name"])["min"]
        if smallest is not None:
            oldest = min(oldest, _parse_id(smallest))
    return oldest


def _parse_id(entry_id: bytes | str) -> StreamId:
    millis, _, sequence = _text(entry_id).partition("-")
    return int(millis), int(sequence or 0)


def _successor(entry_id: StreamId) -> StreamId:
    millis, sequence = entry_id
    return (millis + 1, 0) if sequence == _MAX_SEQUENCE else (millis, sequence + 1)


def client_name(config: RedisIngestConfig) -> str:
    """The name this consumer's Redis connections show in CLIENT LIST."""
    return re.sub(r"\s", "_", f"tuskflow:{config.group}:{config.consumer}")


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entries(reply: Any) -> list[Entry]:
    """The (id, fields) entries of a one-stream XREADGROUP reply; a deleted entry has none."""
    if not reply:
        return []
    [(_stream, entries)] = reply
    return [(_text(entry_id), fields or {}) for entry_id, fields in entries]


@dataclass(frozen=True)
class _InFlight:
    """What the consumer holds for the batch the writer stores: its entry ids, acknowledged
    after the commit, and the batch itself, stored here if PostgreSQL was away."""

    entry_ids: list[str]
    mapped: MappedBatch


class RedisIngestor:
    """One consumer of a group; run several, each with its own stable name, to share a stream."""

    def __init__(self, config: RedisIngestConfig, metrics: ConsumerMetrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or ConsumerMetrics("redis")
        # One connection: only the writer thread, or the consumer once it has settled, writes.
        self._store = PostgresEventStore(
            config.database_url,
            max_event_bytes=config.max_event_bytes,
            pool_size=1,
            role="consumer",
            fail_fast=True,
        )
        self._writer: BatchWriter[_InFlight] = BatchWriter(self._store, self.metrics.batch)
        self._group_ready = False
        self._replay_due = True
        self._next_claim = 0.0
        self._next_trim = 0.0
        self.log = log.bind(
            consumer=f"redis:{config.group}/{config.consumer}", stream=config.stream
        )
        self._outage = PostgresOutage(self.log, self.metrics)

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; the batch in hand is finished first."""
        client = self._client()
        self.log.info("consumer.started", group=self.config.group)
        backoff = Backoff()
        try:
            while not stop.is_set():
                self._cycle(client, stop, backoff)
            try:
                self._finish_in_flight(client, stop)
            except _REDIS_DOWN as exc:
                self.log.warning("redis.unavailable", error=str(exc), action="left pending")
        finally:
            self._writer.close()
            client.close()
            self._store.close()
            self.log.info("consumer.stopped")

    def _client(self) -> redis.Redis:
        # No retries inside the client: every failure reaches _cycle, which replays the pending
        # entries of a read whose reply was lost.
        return redis.Redis.from_url(
            self.config.redis_url,
            socket_timeout=self.config.block_ms / 1000 + 10,
            socket_connect_timeout=5,
            retry=Retry(NoBackoff(), 0),
            client_name=client_name(self.config),
        )

    def _cycle(self, client: redis.Redis, stop: threading.Event, backoff: Backoff) -> None:
        try:
            self._step(client, stop)
        except _REDIS_DOWN as exc:
            self._replay_due = True
            wait = backoff.next_wait()
            self.metrics.retry()
            self.log.warning("redis.unavailable", error=str(exc), retry_in_s=wait)
            stop.wait(wait)
            return
        except redis.ResponseError as exc:
            # A Redis restarted without persistence has lost the group: make it again.
            if not str(exc).startswith("NOGROUP"):
                raise
            self.log.warning("group.missing", error=str(exc), action="create it again")
            self._group_ready = False
            return
        backoff.reset()

    def _step(self, client: redis.Redis, stop: threading.Event) -> None:
        if not self._group_ready:
            self._ensure_group(client)
        if self._replay_due:
            self._finish_in_flight(client, stop)  # else the replay would read its entries
            self._replay_own(client, stop)
        now = time.monotonic()
        if now >= self._next_claim:
            self._claim(client, stop)
            self._report_lag(client)
            self._next_claim = now + self.config.claim_every_s
        if self.config.trim_every_s is not None and now >= self._next_trim:
            self._trim(client)
            self._next_trim = now + self.config.trim_every_s
        if not stop.is_set():
            # With a batch in flight, look without waiting: if nothing new came, settle it now.
            block = None if self._writer.busy else self.config.block_ms
            entries = self._read(client, ">", block=block)
            if entries:
                self._process(client, entries, stop, redelivered=False)
            else:
                self._finish_in_flight(client, stop)

    def _ensure_group(self, client: redis.Redis) -> None:
        try:
            client.xgroup_create(self.config.stream, self.config.group, id="0", mkstream=True)
            self.log.info("group.created", group=self.config.group)
        except redis.ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
        self._group_ready = True

    def _replay_own(self, client: redis.Redis, stop: threading.Event) -> None:
        """Process the entries delivered to this consumer and never acknowledged, oldest first."""
        last = "0"
        while not stop.is_set():
            entries = self._read(client, last, block=None)
            if not entries:
                self._replay_due = False
                return
            self._process(client, entries, stop, redelivered=True)
            last = entries[-1][0]

    def _claim(self, client: redis.Redis, stop: threading.Event) -> None:
        """Take over entries idle longer than claim_idle_ms on any consumer, page by page."""
        cursor = "0-0"
        while not stop.is_set():
            reply = client.xautoclaim(
                self.config.stream,
                self.config.group,
                self.config.consumer,
                self.config.claim_idle_ms,
                cursor,
                count=self.config.batch_size,
            )
            cursor, claimed = _text(reply[0]), reply[1]
            entries = [(_text(i), fields or {}) for i, fields in claimed if i is not None]
            if len(entries) < len(claimed):
                # Redis 6.2 claims an entry deleted while pending but answers nil in its place:
                # our own pending list still names it, so the replay settles it.
                self._replay_due = True
            if entries:
                self.log.info("entries.claimed", entries=len(entries))
                self._process(client, entries, stop, redelivered=True)
            if cursor == "0-0":
                return

    def _read(self, client: redis.Redis, from_id: str, block: int | None) -> list[Entry]:
        reply = client.xreadgroup(
            self.config.group,
            self.config.consumer,
            {self.config.stream: from_id},
            count=self.config.batch_size,
            block=block,
        )
        return _entries(reply)

    def _process(
        self,
        client: redis.Redis,
        entries: list[Entry],
        stop: threading.Event,
        *,
        redelivered: bool,
    ) -> None:
        """Map one batch while the previous one is stored; once that one is committed and
        acknowledged, start storing this one."""
        deliveries = self._deliveries(client, entries) if redelivered else {}
        messages, letters = split_batch(self.config, entries, deliveries)
        mapped = map_batch(
            self._store, messages, self.config.mapping, self.config.max_event_bytes, letters
        )
        self._finish_in_flight(client, stop)
        self._writer.start(mapped, None, _InFlight([i for i, _ in entries], mapped))

    def _finish_in_flight(self, client: redis.Redis, stop: threading.Event) -> None:
        """Take the outcome of the batch in flight (stored here, with backoff, if PostgreSQL
        was away) and only after its commit acknowledge all its entries."""
        settled = self._writer.take()
        if settled is None:
            return
        outcome: BatchOutcome | None
        try:
            outcome = settled.result()
        except RetryableError as exc:
            self._outage.noticed(exc)
            outcome = self._outage.until_stored(
                lambda: store_batch(self._store, settled.held.mapped, None, self.metrics.batch),
                stop,
                stop.wait,
            )
        if outcome is None:
            return  # not acknowledged: the entries stay pending and are delivered again
        client.xack(self.config.stream, self.config.group, *settled.held.entry_ids)
        self._report_lag(client)

    def _deliveries(self, client: redis.Redis, entries: list[Entry]) -> dict[str, int]:
        pending = client.xpending_range(
            self.config.stream,
            self.config.group,
            entries[0][0],
            entries[-1][0],
            len(entries),
            self.config.consumer,
        )
        return {_text(p["message_id"]): int(p["times_delivered"]) for p in pending}

    def _report_lag(self, client: redis.Redis) -> None:
        """The group's entries not yet stored: pending (delivered, not acknowledged), plus on
        Redis 7 and later those not yet delivered (XINFO GROUPS' lag; Redis 6.2 has none)."""
        for group in client.xinfo_groups(self.config.stream):
            if _text(group["name"]) == self.config.group:
                behind = int(group["pending"]) + int(group.get("lag") or 0)
                self.metrics.set_lag(f"{self.config.stream}/{self.config.group}", behind)

    def _trim(self, client: redis.Redis) -> None:
        trimmed = safe_trim(client, self.config.stream)
        if trimmed:
            self.log.info("stream.trimmed", entries=trimmed)
