"""Kafka topics into the event store, exactly once in effect.

PostgreSQL is the authority on progress. On assignment the consumer starts each partition from
the next offset stored in ``source_offsets``; each batch's events, dead letters and new offsets
commit in one transaction (workers.ingest), and the offset write is a compare-and-set on the
offset this consumer last stored, so a consumer that lost a partition cannot move it (fenced).
Committing to Kafka afterwards only feeds lag tools. A batch is stored while the next is
fetched and mapped. A partition revoked (handed over in a rebalance) is handed over in order: the
batch in flight commits or fails first, and what committed is committed to Kafka before the
revoke ends. A partition lost (the group moved on without us) is dropped at once, with nothing
waited for: the fencing keeps a late write of ours from landing over the new owner's. Either
way, messages of a partition no longer ours are never written. While PostgreSQL is down the
consumer keeps the batches in hand, pauses fetching and retries with backoff (workers.outage),
still polling so that it stays in the group.
"""

import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, NamedTuple

import structlog
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from tuskflow.config.errors import RetryableError
from tuskflow.eventstore.errors import FencedError
from tuskflow.eventstore.postgres.store import PostgresEventStore
from tuskflow.eventstore.records import OffsetAdvance, SourceProgress
from tuskflow.workers.ingest import (
    BatchOutcome,
    BatchWriter,
    MappedBatch,
    map_batch,
    store_batch,
)
from tuskflow.workers.ingest_configs import KafkaIngestConfig
from tuskflow.workers.mapping import NO_HEADERS, SourceMessage
from tuskflow.workers.metrics import ConsumerMetrics
from tuskflow.workers.outage import PostgresOutage

log = structlog.get_logger(__name__)
Partition = tuple[str, int]
# The writer thread's connection, and one for offsets on assignment and after a fence.
_POOL_SIZE = 2


def coordinates(message: Message) -> tuple[str, int, int]:
    """Topic, partition and offset of a fetched (not error) message."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("a fetched message names its topic, partition and offset")
    return topic, partition, offset


def source_message(message: Message) -> SourceMessage:
    """A Kafka message as the mapping sees it, named by topic/partition/offset."""
    return _source_message(message, *coordinates(message))


@dataclass(frozen=True)
class _InFlight:
    """The batch being stored by the writer, and the offsets it moves."""

    batch: list["_Fetched"]
    advances: list[OffsetAdvance]


class _Fetched(NamedTuple):
    """A fetched message with its partition and offset, asked of the client once."""

    partition: Partition
    offset: int
    message: SourceMessage


def _source_message(message: Message, topic: str, partition: int, offset: int) -> SourceMessage:
    key, value, fetched = message.key(), message.value(), message.headers()
    return SourceMessage(
        "kafka",
        f"kafka:{topic}/{partition}/{offset}",
        {"topic": topic, "partition": partition, "offset": offset},
        key.encode() if isinstance(key, str) else key,
        value.encode() if isinstance(value, str) else value,
        _headers(fetched) if fetched else NO_HEADERS,
    )


def _headers(fetched: list[tuple[str, Any]] | dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in fetched.items() if isinstance(fetched, dict) else fetched:
        raw = value if isinstance(value, bytes) else str(value or "").encode()
        headers[str(name)] = raw.decode(errors="replace")
    return headers


class KafkaIngestor:
    """One consumer process of a group; run several to share the partitions."""

    def __init__(self, config: KafkaIngestConfig, metrics: ConsumerMetrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or ConsumerMetrics("kafka")
        # Partitions this consumer owns, with the next offset it knows stored (None: none yet).
        self._owned: dict[Partition, int | None] = {}
        self._store = PostgresEventStore(
            config.database_url,
            max_event_bytes=config.max_event_bytes,
            pool_size=_POOL_SIZE,
            role="consumer",
            fail_fast=True,
        )
        self._writer: BatchWriter[_InFlight] = BatchWriter(self._store, self._committed)
        # Each owned partition's high watermark as of the last fetch, for the lag at commit
        # (read here: librdkafka's accessor blocks while consume() waits in the other thread).
        self._high: dict[Partition, int] = {}
        self._paused = False
        self.log = log.bind(consumer=f"kafka:{config.group}", topics=list(config.topics))
        self._outage = PostgresOutage(self.log, self.metrics)
        self._idle = _IdleWatch(config.idle_warning_s)

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; the batch in hand is finished first."""
        consumer = Consumer(self._config())
        consumer.subscribe(
            list(self.config.topics),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self.log.info("consumer.started", group=self.config.group)
        try:
            while not stop.is_set():
                fetched = consumer.consume(self.config.batch_size, self.config.batch_timeout_s)
                if self._idle.overdue(bool(self._owned)):
                    self._say_why_idle(consumer)
                batch = self._owned_messages(fetched)
                self._note_watermarks(consumer, batch)
                # Mapped while the previous batch is being stored; written once that one is.
                mapped = self._map(batch)
                kept = self._finish_in_flight(consumer, batch, stop)
                if kept:
                    self._start(kept, mapped if len(kept) == len(batch) else self._map(kept))
            self._finish_in_flight(consumer, [], stop)
        finally:
            self._writer.close()
            consumer.close()
            self._store.close()
            self.log.info("consumer.stopped")

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "bootstrap.servers": self.config.bootstrap,
            "group.id": self.config.group,
            "client.id": self.config.client_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
            # Bounded prefetch: memory stays flat however large the backlog grows.
            "queued.max.messages.kbytes": 32768,
            "queued.min.messages": 20000,
            # Once a partition's queue is past those bounds, fetch again 10 ms later, not 1 s
            # (the default): draining a backlog, consume() waited ~11 µs a message on it.
            "fetch.queue.backoff.ms": 10,
            "fetch.max.bytes": 16 * 1024 * 1024,
            "session.timeout.ms": self.config.session_timeout_ms,
            "max.poll.interval.ms": self.config.max_poll_interval_ms,
            "error_cb": self._on_error,
        }
        if self.config.instance_id is not None:
            config["group.instance.id"] = self.config.instance_id
        return config

    def _say_why_idle(self, consumer: Consumer) -> None:
        """Log why this member holds no partition: its topics have fewer partitions than the
        group has members, or do not exist yet."""
        partitions = {}
        for topic in self.config.topics:
            try:
                found = consumer.list_topics(topic, timeout=2).topics[topic]
            except KafkaException as exc:
                self.log.warning("consumer.idle", reason=f"Kafka does not answer: {exc}")
                return
            partitions[topic] = 0 if found.error is not None else len(found.partitions)
        self.log.warning(
            "consumer.idle",
            idle_s=self.config.idle_warning_s,
            partitions=partitions,
            reason=_idle_reason(partitions),
        )

    def _on_error(self, error: KafkaError) -> None:
        self.log.warning("kafka.error", error=str(error), fatal=error.fatal())

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._writer.settle()  # offsets read now must include the batch in flight's
        keys = [(p.topic, p.partition) for p in partitions]
        stored = self._outage.until_answered(
            lambda: self._store.load_progress(self.config.group, keys)
        )
        for p in partitions:
            p.offset = stored.get((p.topic, p.partition), OFFSET_BEGINNING)
            self._owned[(p.topic, p.partition)] = stored.get((p.topic, p.partition))
        consumer.incremental_assign(partitions)
        if self._paused:  # assigned during an outage: wait with the others
            consumer.pause(partitions)
        self.log.info("partitions.assigned", partitions=_names(keys), stored=len(stored))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Handed over in order: the batch in flight commits (or fails) before the revoke ends,
        and what it committed is committed to Kafka while the partitions are still ours."""
        settled = self._writer.take_if_stored()
        if settled is not None:
            self._stored(consumer, settled.held.advances, settled.result())
        self._drop(partitions, "partitions.revoked")

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Lost, not handed over: another member may own them already. Drop them at once and
        write nothing more of them; a batch in flight is not waited for: its offset write is a
        compare-and-set, so if the new owner has moved on it is fenced and stores nothing."""
        self._drop(partitions, "partitions.lost")

    def _drop(self, partitions: list[TopicPartition], event: str) -> None:
        keys = [(p.topic, p.partition) for p in partitions]
        for key in keys:
            self._owned.pop(key, None)
        self.log.info(event, partitions=_names(keys))

    def _owned_messages(self, fetched: list[Message]) -> list[_Fetched]:
        batch = []
        for message in fetched:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    self.log.warning("kafka.message_error", error=str(error))
                continue
            topic, partition, offset = coordinates(message)
            if (topic, partition) in self._owned:
                found = _source_message(message, topic, partition, offset)
                batch.append(_Fetched((topic, partition), offset, found))
        return batch

    def _map(self, batch: list[_Fetched]) -> MappedBatch:
        messages = [f.message for f in batch]
        return map_batch(self._store, messages, self.config.mapping, self.config.max_event_bytes)

    def _start(self, batch: list[_Fetched], mapped: MappedBatch) -> None:
        advances = self._advances(batch)
        self._writer.start(mapped, self._progress(advances), _InFlight(batch, advances))

    def _finish_in_flight(
        self, consumer: Consumer, in_hand: list[_Fetched], stop: threading.Event
    ) -> list[_Fetched]:
        """Take the outcome of the batch in flight; return what of ``in_hand`` is still to start.

        Fenced: its partitions are sought back to their stored offsets, and the messages in hand
        from them, fetched before the seek, are dropped. PostgreSQL away: it is stored here
        with the batch in hand, in order, retrying with backoff.
        """
        settled = self._writer.take()
        if settled is None:
            return in_hand
        try:
            outcome = settled.result()
        except FencedError:
            resynced = self._resync(consumer, settled.held.advances)
            return [f for f in in_hand if f.partition not in resynced]
        except RetryableError as exc:
            self._outage.noticed(exc)
            self._store_here(consumer, settled.held.batch + in_hand, stop)
            return []
        self._stored(consumer, settled.held.advances, outcome)
        return in_hand

    def _store_here(self, consumer: Consumer, batch: list[_Fetched], stop: threading.Event) -> None:
        """Store ``batch`` here, in order, while PostgreSQL is away: fetching paused, polling
        kept up, and only what is still ours written at each attempt."""
        held = list(batch)

        def attempt() -> None:
            held[:] = [f for f in held if f.partition in self._owned]
            if not held:
                return
            advances = self._advances(held)
            try:
                outcome = store_batch(
                    self._store, self._map(held), self._progress(advances), self._committed
                )
            except FencedError:
                self._resync(consumer, advances)
                return
            self._stored(consumer, advances, outcome)

        def hold(wait_s: float) -> None:
            self._pause(consumer)
            held.extend(self._hold(consumer, wait_s))

        try:
            self._outage.until_stored(attempt, stop, hold)
        finally:
            if self._paused:
                self._paused = False
                consumer.resume(consumer.assignment())

    def _hold(self, consumer: Consumer, wait_s: float) -> list[_Fetched]:
        """Poll while paused, so the group keeps this member; what it still fetches is kept.

        Paused partitions fetch nothing, but a partition assigned during the outage may have a
        message in flight: dropping it would move the stored offset past it on the next write.
        """
        return self._owned_messages(consumer.consume(self.config.batch_size, wait_s))

    def _progress(self, advances: list[OffsetAdvance]) -> SourceProgress:
        return SourceProgress(self.config.group, tuple(advances))

    def _advances(self, batch: list[_Fetched]) -> list[OffsetAdvance]:
        last: dict[Partition, int] = defaultdict(lambda: -1)
        for fetched in batch:
            last[fetched.partition] = max(last[fetched.partition], fetched.offset)
        advances = []
        for (topic, partition), offset in last.items():
            expected = self._owned[(topic, partition)]
            next_offset = max(offset + 1, expected or 0)
            advances.append(OffsetAdvance(topic, partition, expected, next_offset))
        return advances

    def _stored(
        self, consumer: Consumer, advances: list[OffsetAdvance], outcome: BatchOutcome
    ) -> None:
        for advance in advances:
            key = (advance.topic, advance.partition)
            if key in self._owned:
                self._owned[key] = advance.next_offset
        # For lag tools only, and only for partitions still ours (one lost while the batch was
        # in flight is another member's to commit).
        owned = [a for a in advances if (a.topic, a.partition) in self._owned]
        if not owned:
            return
        offsets = [TopicPartition(a.topic, a.partition, a.next_offset) for a in owned]
        consumer.commit(offsets=offsets, asynchronous=True)

    def _committed(self, outcome: BatchOutcome, progress: SourceProgress | None) -> None:
        """Right after a batch commits, in the writer thread: set each partition's lag from its
        high watermark at the last fetch and the offset just stored, for partitions still ours,
        then count the batch."""
        advances = progress.advances if progress is not None else ()
        for advance in advances:
            key = (advance.topic, advance.partition)
            high = self._high.get(key)
            if high is not None and key in self._owned:
                self.metrics.set_lag(
                    f"{advance.topic}/{advance.partition}", high - advance.next_offset
                )
        self.metrics.batch(outcome)

    def _note_watermarks(self, consumer: Consumer, batch: list["_Fetched"]) -> None:
        """The high watermarks librdkafka cached with this fetch, of the partitions it served."""
        for key in {fetched.partition for fetched in batch}:
            _, high = consumer.get_watermark_offsets(TopicPartition(*key), cached=True)
            if high >= 0:
                self._high[key] = high

    def _resync(self, consumer: Consumer, advances: list[OffsetAdvance]) -> set[Partition]:
        """Seek the fenced partitions still ours back to their stored offsets; return them."""
        keys = [(a.topic, a.partition) for a in advances if (a.topic, a.partition) in self._owned]
        stored = self._outage.until_answered(
            lambda: self._store.load_progress(self.config.group, keys)
        )
        self.log.warning(
            "consumer.fenced", partitions=_names(keys), action="seek to stored offsets"
        )
        for key in keys:
            offset = stored.get(key)
            self._owned[key] = offset
            consumer.seek(
                TopicPartition(key[0], key[1], OFFSET_BEGINNING if offset is None else offset)
            )
        return set(keys)

    def _pause(self, consumer: Consumer) -> None:
        if not self._paused:
            self._paused = True
            consumer.pause(consumer.assignment())
            self.log.info("consumer.paused", reason="PostgreSQL unavailable")


class _IdleWatch:
    """Tells once per idle spell when a consumer has held no partition for ``after_s``."""

    def __init__(self, after_s: float) -> None:
        self.after_s = after_s
        self._since: float | None = time.monotonic()
        self._told = False

    def overdue(self, holds_partitions: bool) -> bool:
        """True once, when the spell without partitions has lasted ``after_s``."""
        now = time.monotonic()
        if holds_partitions:
            self._since, self._told = None, False
            return False
        if self._since is None:
            self._since = now
        if self._told or now - self._since < self.after_s:
            return False
        self._told = True
        return True


def _idle_reason(partitions: dict[str, int]) -> str:
    missing = [topic for topic, count in partitions.items() if count == 0]
    if missing:
        return (
            f"topic {', '.join(missing)} does not exist yet; make it with"
            " `tuskflow kafka topics create TOPIC --partitions N`"
        )
    counts = ", ".join(f"{topic} has {count}" for topic, count in partitions.items())
    return (
        f"this member holds no partition ({counts}): a group shares a topic by partitions,"
        " so members beyond the partition count wait idle; a topic made with more"
        " (`tuskflow kafka topics create TOPIC --partitions N`) spreads over more members"
    )


def _names(keys: list[Partition]) -> list[str]:
    return [f"{topic}/{partition}" for topic, partition in sorted(keys)]
