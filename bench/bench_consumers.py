"""Benchmark: tuskflow's Kafka and Redis Streams consumers end to end, against raw COPY of the same
rows and a naive consumer.

Run it against local services:

    make up && eval "$(.venv/bin/tuskflow local env)" && .venv/bin/python bench/bench_consumers.py

``make bench`` runs it with every other bench/bench_*.py. It needs TUSKFLOW_DATABASE_URL,
TUSKFLOW_KAFKA_BOOTSTRAP and TUSKFLOW_REDIS_URL.

For each source, Kafka (a 6-partition topic) and Redis (one stream), in one process run it
measures side by side and prints medians and ratios (it never asserts a time):

1. in ROUNDS rounds, each on a fresh backlog of 100,000 readings over 1,000 keys loaded before
   any clock starts, in a rotating order:
   - ours, end to end: the real worker (``tuskflow consume kafka|redis`` as a subprocess, JSON
     logs to a temporary file) drains the backlog into a freshly migrated event store, then is
     stopped with SIGTERM and must exit 0. Its rate is taken over the drain, between the first
     and the last stored batch by their recorded_at, so the start-up (interpreter, imports,
     group join) is shown apart; completion is polled every POLL_S on ``source_offsets``
     (Kafka) or ``streams`` (Redis), a few rows each. Its peak RSS is VmHWM just before SIGTERM;
   - the ceiling: a raw COPY of the very rows the worker stores (the backlog read back, mapped
     by workers.mapping and formatted as COPY text off the clock) into a bare table, in
     transactions of the worker's batch size (workers.ingest_configs.DEFAULT_BATCH_SIZE), each
     written in one block;
   - for scale, not a target: the same COPY into the event store's own events table, with its
     unique indexes and triggers (a fresh store), which is the most any writer of these events
     could do, before the streams table, offsets and source;
   - the naive consumer many teams write first, in this process: one INSERT and one COMMIT per
     message (Kafka offsets auto-committed; one XACK per Redis entry), for NAIVE_SECONDS from
     its first message;
2. memory as the backlog grows: ours again on a backlog four times larger; its peak RSS
   against the median of the 100,000 backlogs'.
Then the Redis consumer's median rate over the drain against the Kafka consumer's (the same
backlog, store and batch size: what the Redis path costs per message beyond Kafka's).

For each source that misses a target, its worker's loop (KafkaIngestor or RedisIngestor,
built as the CLI builds it) then runs in a thread of this process under cProfile on a
50,000-message backlog, and its top functions by own time are printed, with own time summed
by area (source client, psycopg, JSON, mapping, ...). Only the ingestor's thread (fetch, map)
is profiled, not its batch writer's thread, with this process tuned as a consumer process is
(workers.process).

Everything lives in schema tf_consumers_bench (dropped first and at the end) and in topics and
streams named bench-consumers-*, deleted with their consumer groups at the end. A full run
takes three to four minutes on two cores.
"""

from __future__ import annotations

import contextlib
import cProfile
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NoReturn, Protocol

import confluent_kafka
import psycopg
import redis
import structlog
from _report import (
    Row,
    drop_schema,
    median,
    per_second,
    print_summary,
    progress,
    rate_text,
    with_search_path,
)
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from psycopg import sql

from tuskflow.eventstore import migrate
from tuskflow.eventstore.postgres._append import encode_batch
from tuskflow.eventstore.validation import DEFAULT_MAX_EVENT_BYTES, PreparedEvent
from tuskflow.workers.ingest_configs import DEFAULT_BATCH_SIZE, KafkaIngestConfig, RedisIngestConfig
from tuskflow.workers.kafka_consumer import KafkaIngestor, coordinates
from tuskflow.workers.kafka_consumer import source_message as kafka_message
from tuskflow.workers.mapping import EVENT_ID_NAMESPACE, MappingSpec, SourceMessage, map_message
from tuskflow.workers.process import tune_for_consuming
from tuskflow.workers.redis_consumer import RedisIngestor
from tuskflow.workers.redis_consumer import source_message as redis_message

SCHEMA = "tf_consumers_bench"
PREFIX = "bench-consumers"
ROOT = Path(__file__).resolve().parent.parent
TUSKFLOW = Path(sys.executable).with_name("tuskflow")
# The worker's connections carry this name, so that its PostgreSQL backend can be found: the
# application_name its store's pool gives every consumer process (config.database, role
# "consumer"), which overrides one given in the URL.
APPLICATION = "tuskflow-consumer"

BACKLOG = 100_000
LARGE_BACKLOG = 400_000
KEYS = 1000
PARTITIONS = 6
ROUNDS = 3
COPY_BATCH = DEFAULT_BATCH_SIZE
NAIVE_SECONDS = 6.0
NAIVE_READ = 100  # entries per XREADGROUP of the naive Redis consumer
XADD_PIPELINE = 1000
READ_PAGE = 10_000
POLL_S = 0.25
DRAIN_TIMEOUT_S = 240
STOP_TIMEOUT_S = 30
JOIN_TIMEOUT_S = 30
LOG_TAIL = 25
PROFILE_BACKLOG = 50_000
PROFILE_TOP = 15
PROFILE_POLL_S = 0.05  # short: the time after the last batch is profiled too

RAW_TARGET = 0.5
NAIVE_TARGET = 20.0
MEMORY_TARGET = 1.3
REDIS_TARGET = 0.9  # of the Kafka consumer's rate over the drain, in the same run

RAW_TABLE = "raw_events"
NAIVE_TABLE = "naive_events"
_RAW_DDL = sql.SQL(
    "CREATE TABLE {} (stream_id text, stream_version integer, event_id uuid,"
    " event_type text, data jsonb, metadata jsonb)"
).format(sql.Identifier(RAW_TABLE))
_RAW_COPY = sql.SQL(
    "COPY {} (stream_id, stream_version, event_id, event_type, data, metadata) FROM STDIN"
).format(sql.Identifier(RAW_TABLE))
_EVENTS_COPY = sql.SQL(
    "COPY events (stream_id, stream_version, event_id, event_type, data, metadata) FROM STDIN"
)
_NAIVE_DDL = sql.SQL(
    "CREATE TABLE {} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " stream_id text NOT NULL, event_id uuid NOT NULL UNIQUE, event_type text NOT NULL,"
    " data jsonb NOT NULL, metadata jsonb NOT NULL,"
    " recorded_at timestamptz NOT NULL DEFAULT now())"
).format(sql.Identifier(NAIVE_TABLE))
_NAIVE_INSERT = sql.SQL(
    "INSERT INTO {} (stream_id, event_id, event_type, data, metadata)"
    " VALUES (%s, %s, %s, %s::jsonb, %s::jsonb)"
).format(sql.Identifier(NAIVE_TABLE))
_KAFKA_STORED = "SELECT coalesce(sum(next_offset), 0) FROM source_offsets WHERE consumer_group = %s"
_REDIS_STORED = "SELECT coalesce(sum(version), 0) FROM streams"
# After a drain (not timed): what was stored, and the span between the first and the last
# batch. recorded_at is the statement time of the COPY that wrote a batch, so the events of
# every batch but the last were stored between the two.
_SPAN = """
WITH span AS (SELECT count(*) AS stored, min(recorded_at) AS first, max(recorded_at) AS last
              FROM events)
SELECT stored, (SELECT count(*) FROM dead_letters),
       (SELECT count(*) FROM events WHERE recorded_at = span.last),
       coalesce(extract(epoch FROM span.last - span.first)::float8, 0)
FROM span
"""
_BACKEND = (
    "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
    " ORDER BY backend_start DESC LIMIT 1"
)

_SERVICES = ("TUSKFLOW_DATABASE_URL", "TUSKFLOW_KAFKA_BOOTSTRAP", "TUSKFLOW_REDIS_URL")
_NOT_SET = (
    '{} not set: run `make up` and `eval "$(.venv/bin/tuskflow local env)"`, then run this again'
)
_TICKS = os.sysconf("SC_CLK_TCK")


# --- plumbing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Services:
    """Where everything is: PostgreSQL (plain, bench schema, the worker's), Kafka, Redis."""

    base_url: str
    url: str
    worker_url: str
    bootstrap: str
    redis_url: str
    log_dir: Path


def services(log_dir: Path) -> Services:
    """The services from the environment, or exit saying how to get them."""
    missing = [name for name in _SERVICES if not os.environ.get(name)]
    if missing:
        sys.exit(_NOT_SET.format(" and ".join(missing) + (" is" if len(missing) == 1 else " are")))
    base_url = os.environ["TUSKFLOW_DATABASE_URL"]
    url = with_search_path(base_url, SCHEMA)
    return Services(
        base_url=base_url,
        url=url,
        worker_url=url,
        bootstrap=os.environ["TUSKFLOW_KAFKA_BOOTSTRAP"],
        redis_url=os.environ["TUSKFLOW_REDIS_URL"],
        log_dir=log_dir,
    )


def fresh_schema(env: Services) -> None:
    """Recreate the bench schema and migrate it: an empty event store."""
    drop_schema(env.base_url, SCHEMA)
    with psycopg.connect(env.base_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
    migrate(env.url)


def recreate(conn: psycopg.Connection[Any], table: str, ddl: sql.Composed) -> None:
    """Drop ``table`` if it exists and create it again from ``ddl``."""
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
    conn.execute(ddl)


def fail(message: str, log: Path | None = None) -> NoReturn:
    """Exit with ``message`` and the tail of a worker's log: the run's numbers mean nothing."""
    if log is not None and log.exists():
        tail = log.read_text(errors="replace").splitlines()[-LOG_TAIL:]
        message += f"\n  last lines of {log.name}:\n" + "\n".join(f"    {t}" for t in tail)
    sys.exit(message)


def reading(n: int) -> tuple[str, bytes]:
    """The n-th reading: its key (one of KEYS meters) and its JSON payload."""
    payload = {"type": "Measured", "value": n, "unit": "kWh"}
    return f"meter-{n % KEYS}", json.dumps(payload).encode()


def new_name(role: str) -> str:
    """A fresh topic, stream or group name."""
    return f"{PREFIX}-{role}-{uuid.uuid4().hex[:10]}"


# --- the sources -----------------------------------------------------------------------------


# One message as the naive consumer stores it, and what acknowledges it to the source.
NaiveRow = tuple[str, uuid.UUID, str, str, str]
NaiveItem = tuple[NaiveRow, Callable[[], object] | None]


class Ingestor(Protocol):
    """A worker's loop: KafkaIngestor or RedisIngestor."""

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set."""
        ...


class Source(Protocol):
    """What the bench needs of Kafka or Redis."""

    name: str
    layout: str

    def group(self, role: str) -> str:
        """A new consumer group name, cleaned up at the end."""
        ...

    def preload(self, count: int) -> str:
        """A new topic or stream holding ``count`` readings; its name."""
        ...

    def worker_argv(self, target: str, group: str) -> list[str]:
        """The command line of our worker consuming ``target`` as ``group``."""
        ...

    def stored(self, conn: psycopg.Connection[Any], group: str) -> int:
        """How many messages ``group``'s worker has stored (a cheap query on a few rows)."""
        ...

    def prepared(self, target: str, count: int) -> list[PreparedEvent]:
        """The backlog read back and mapped as the worker maps it."""
        ...

    def naive(self, url: str, target: str, seconds: float) -> Rate:
        """The naive consumer on ``target`` for ``seconds`` from its first message."""
        ...

    def ingestor(self, url: str, target: str, group: str) -> Ingestor:
        """Our worker's loop on ``target``, to run in this process."""
        ...

    def discard(self, target: str) -> None:
        """Delete a topic or stream."""
        ...

    def cleanup(self) -> None:
        """Delete whatever is left: topics or streams, and consumer groups."""
        ...


class KafkaBench:
    """Kafka: a PARTITIONS-partition topic per backlog, produced with idempotence."""

    name = "kafka"
    layout = f"on a {PARTITIONS}-partition topic"

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.admin = AdminClient({"bootstrap.servers": bootstrap})
        self.topics: list[str] = []
        self.groups: list[str] = []

    def group(self, role: str) -> str:
        """A new consumer group, deleted at the end."""
        name = new_name(role)
        self.groups.append(name)
        return name

    def preload(self, count: int) -> str:
        """A new topic holding ``count`` readings."""
        topic = new_name("topic")
        new = NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)
        self.admin.create_topics([new])[topic].result(timeout=30)
        self.topics.append(topic)
        producer = Producer(
            {"bootstrap.servers": self.bootstrap, "enable.idempotence": True, "linger.ms": 20}
        )
        for n in range(count):
            key, value = reading(n)
            while True:
                try:
                    producer.produce(topic, key=key, value=value)
                    break
                except BufferError:  # the local queue is full: let deliveries drain
                    producer.poll(0.1)
            if n % 1000 == 0:
                producer.poll(0)
        if producer.flush(120):
            fail(f"could not produce {count:,} messages to {topic}")
        return topic

    def worker_argv(self, target: str, group: str) -> list[str]:
        """``tuskflow consume kafka``, batches of 1,000 (the default)."""
        return [str(TUSKFLOW), "consume", "kafka", "--topic", target, "--group", group]

    def stored(self, conn: psycopg.Connection[Any], group: str) -> int:
        """The sum of the group's next offsets: the messages stored (offsets start at 0)."""
        row = conn.execute(_KAFKA_STORED, [group]).fetchone()
        return int(row[0]) if row else 0

    def prepared(self, target: str, count: int) -> list[PreparedEvent]:
        """Every message of the topic, read back from the start and mapped."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.group("readback"),
                "enable.auto.commit": False,
            }
        )
        consumer.assign([TopicPartition(target, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        messages: list[SourceMessage] = []
        deadline = time.monotonic() + 120
        try:
            while len(messages) < count and time.monotonic() < deadline:
                fetched = consumer.consume(READ_PAGE, 1.0)
                messages += [kafka_message(m) for m in fetched if m.error() is None]
        finally:
            consumer.close()
        return mapped(messages, count)

    def naive(self, url: str, target: str, seconds: float) -> Rate:
        """poll() one message, INSERT it, COMMIT; offsets auto-committed by the client."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.group("naive"),
                "enable.auto.commit": True,
                "auto.offset.reset": "earliest",
            }
        )
        consumer.subscribe([target])

        def fetch() -> list[NaiveItem]:
            message = consumer.poll(1.0)
            if message is None or message.error() is not None:
                return []
            return [(_naive_kafka_row(message), None)]

        try:
            return drive_naive(url, fetch, seconds)
        finally:
            consumer.close()

    def ingestor(self, url: str, target: str, group: str) -> Ingestor:
        """A KafkaIngestor as ``tuskflow consume kafka`` makes it."""
        config = KafkaIngestConfig(
            bootstrap=self.bootstrap,
            topics=(target,),
            group=group,
            mapping=MappingSpec(),
            database_url=url,
            max_event_bytes=DEFAULT_MAX_EVENT_BYTES,
        )
        return KafkaIngestor(config)

    def discard(self, target: str) -> None:
        """Delete the topic."""
        self._delete_topics([target])

    def cleanup(self) -> None:
        """Delete the topics left and every consumer group the bench made."""
        self._delete_topics(list(self.topics))
        if self.groups:
            futures = self.admin.delete_consumer_groups(self.groups, request_timeout=30)
            for future in futures.values():
                # A group that never committed an offset does not exist on the broker.
                with contextlib.suppress(Exception):
                    future.result(timeout=30)
            self.groups.clear()

    def _delete_topics(self, topics: list[str]) -> None:
        if not topics:
            return
        for future in self.admin.delete_topics(topics, operation_timeout=30).values():
            future.result(timeout=60)
        for topic in topics:
            self.topics.remove(topic)


def _naive_kafka_row(message: Message) -> NaiveRow:
    topic, partition, offset = coordinates(message)
    return naive_row(
        "kafka",
        f"kafka:{topic}/{partition}/{offset}",
        {"topic": topic, "partition": partition, "offset": offset},
        message.key(),
        message.value(),
    )


class RedisBench:
    """Redis: one stream per backlog, filled by pipelined XADD with fields key and data."""

    name = "redis"
    layout = "in one stream"

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.client = redis.Redis.from_url(redis_url)
        self.streams: list[str] = []

    def group(self, role: str) -> str:
        """A new consumer group: it goes with its stream."""
        return new_name(role)

    def preload(self, count: int) -> str:
        """A new stream holding ``count`` readings."""
        stream = new_name("stream")
        self.streams.append(stream)
        pipeline = self.client.pipeline(transaction=False)
        for n in range(count):
            key, value = reading(n)
            pipeline.xadd(stream, {"key": key, "data": value})
            if (n + 1) % XADD_PIPELINE == 0:
                pipeline.execute()
        pipeline.execute()
        return stream

    def worker_argv(self, target: str, group: str) -> list[str]:
        """``tuskflow consume redis``, batches of 1,000 (the default)."""
        return [
            *(str(TUSKFLOW), "consume", "redis", "--stream", target),
            *("--group", group, "--consumer", "bench"),
        ]

    def stored(self, conn: psycopg.Connection[Any], group: str) -> int:
        """The sum of the stream versions: the events stored in the (fresh) store."""
        row = conn.execute(_REDIS_STORED).fetchone()
        return int(row[0]) if row else 0

    def prepared(self, target: str, count: int) -> list[PreparedEvent]:
        """Every entry of the stream, read back with XRANGE and mapped."""
        config = self._ingest_config("-", target, "-")
        messages = [redis_message(config, i, fields) for i, fields in self._entries(target)]
        return mapped(messages, count)

    def ingestor(self, url: str, target: str, group: str) -> Ingestor:
        """A RedisIngestor as ``tuskflow consume redis`` makes it."""
        return RedisIngestor(self._ingest_config(url, target, group))

    def _ingest_config(self, url: str, stream: str, group: str) -> RedisIngestConfig:
        return RedisIngestConfig(
            redis_url=self.redis_url,
            stream=stream,
            group=group,
            consumer="bench",
            mapping=MappingSpec(),
            database_url=url,
            max_event_bytes=DEFAULT_MAX_EVENT_BYTES,
        )

    def _entries(self, stream: str) -> Iterator[tuple[str, dict[bytes, bytes]]]:
        low = "-"
        while True:
            page: Any = self.client.xrange(stream, min=low, max="+", count=READ_PAGE)
            if not page:
                return
            for entry_id, fields in page:
                yield entry_id.decode(), fields
            low = "(" + page[-1][0].decode()

    def naive(self, url: str, target: str, seconds: float) -> Rate:
        """XREADGROUP a few entries; for each: INSERT, COMMIT, XACK."""
        group = self.group("naive")
        self.client.xgroup_create(target, group, id="0")

        def fetch() -> list[NaiveItem]:
            reply: Any = self.client.xreadgroup(
                group, "naive", {target: ">"}, count=NAIVE_READ, block=1000
            )
            items: list[NaiveItem] = []
            for _stream, entries in reply or []:
                for raw_id, fields in entries:
                    entry_id = raw_id.decode()
                    row = naive_row(
                        "redis",
                        f"redis:{target}/{entry_id}",
                        {"stream": target, "entry_id": entry_id},
                        fields.get(b"key"),
                        fields.get(b"data"),
                    )
                    items.append((row, partial(self.client.xack, target, group, entry_id)))
            return items

        return drive_naive(url, fetch, seconds)

    def discard(self, target: str) -> None:
        """Delete the stream (and its groups with it)."""
        self.client.delete(target)
        self.streams.remove(target)

    def cleanup(self) -> None:
        """Delete the streams left."""
        if self.streams:
            self.client.delete(*self.streams)
            self.streams.clear()
        self.client.close()


def mapped(messages: Sequence[SourceMessage], count: int) -> list[PreparedEvent]:
    """The messages mapped as the worker maps them (default mapping); each must be an event."""
    if len(messages) != count:
        fail(f"read back {len(messages):,} messages, not the {count:,} produced")
    prepared = []
    for message in messages:
        event = map_message(MappingSpec(), message, DEFAULT_MAX_EVENT_BYTES)
        if not isinstance(event, PreparedEvent):
            fail(f"{message.source_key} maps to a dead letter: {event.reason}")
        prepared.append(event)
    return prepared


# --- measuring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """``count`` events in ``seconds``."""

    count: int
    seconds: float

    @property
    def per_s(self) -> float:
        """Events per second."""
        return per_second(self.count, self.seconds)


@dataclass(frozen=True)
class OursRun:
    """One end-to-end run of our worker on a backlog."""

    events: int
    drain: Rate  # every batch but the last, between the first batch and the last
    total_s: float  # from the spawn until every event was seen stored
    first_s: float  # from the spawn until the first batch was seen stored
    peak_rss_mb: float
    worker_cpu: float | None  # share of one core while draining
    backend_cpu: float | None  # the same for the worker's PostgreSQL backend

    @property
    def overall(self) -> float:
        """Events per second from the spawn, start-up included."""
        return per_second(self.events, self.total_s)


@dataclass
class Watch:
    """What polling a drain saw: when the first batch and the last were stored, and the CPU
    seconds of the worker and of its PostgreSQL backend at both moments."""

    first_at: float = 0.0
    done_at: float = 0.0
    cpu_first: tuple[float | None, float | None] = (None, None)
    cpu_done: tuple[float | None, float | None] = (None, None)

    def cpu_share(self, which: int) -> float | None:
        """Share of one core the worker (0) or its backend (1) used between the two polls."""
        start, end = self.cpu_first[which], self.cpu_done[which]
        if start is None or end is None or self.done_at <= self.first_at:
            return None
        return (end - start) / (self.done_at - self.first_at)


def cpu_seconds(pid: int | None) -> float | None:
    """User and system CPU seconds of a process so far, if it can be read."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # fields from the third on: state, ppid, ...
    return (int(fields[11]) + int(fields[12])) / _TICKS


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker_env(env: Services) -> dict[str, str]:
    """The worker's environment: the bench schema, the services, JSON logs."""
    return {
        **os.environ,
        "TUSKFLOW_DATABASE_URL": env.worker_url,
        "TUSKFLOW_KAFKA_BOOTSTRAP": env.bootstrap,
        "TUSKFLOW_REDIS_URL": env.redis_url,
        "TUSKFLOW_LOG_FORMAT": "json",
    }


def run_ours(env: Services, source: Source, target: str, count: int) -> OursRun:
    """Our worker as a subprocess on a fresh store, from its spawn until it stored ``count``
    events; then SIGTERM, which it must answer by exiting 0."""
    fresh_schema(env)
    group = source.group("ours")
    log = env.log_dir / f"{source.name}-{group}.log"
    with log.open("wb") as out:
        started = time.perf_counter()
        worker = subprocess.Popen(
            source.worker_argv(target, group),
            cwd=ROOT,
            env=worker_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            watch = watch_drain(env, source, group, count, worker, started, log)
            peak = peak_rss_mb(worker.pid)
            stop_worker(worker, source.name, log)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    return OursRun(
        events=count,
        drain=drain_span(env.url, count, log),
        total_s=watch.done_at - started,
        first_s=watch.first_at - started,
        peak_rss_mb=peak,
        worker_cpu=watch.cpu_share(0),
        backend_cpu=watch.cpu_share(1),
    )


def watch_drain(
    env: Services,
    source: Source,
    group: str,
    count: int,
    worker: subprocess.Popen[bytes],
    started: float,
    log: Path,
) -> Watch:
    """Poll every POLL_S until ``count`` messages are stored; exit if the worker dies first."""
    watch = Watch()
    backend: int | None = None
    with psycopg.connect(env.url, autocommit=True) as conn:
        while True:
            stored = source.stored(conn, group)
            now = time.perf_counter()
            if stored and not watch.first_at:
                row = conn.execute(_BACKEND, [APPLICATION]).fetchone()
                backend = int(row[0]) if row else None
                watch.first_at = now
                watch.cpu_first = (cpu_seconds(worker.pid), cpu_seconds(backend))
            if stored >= count:
                watch.done_at = now
                watch.cpu_done = (cpu_seconds(worker.pid), cpu_seconds(backend))
                return watch
            if worker.poll() is not None:
                fail(f"the {source.name} worker exited ({worker.returncode}) while draining", log)
            if now - started > DRAIN_TIMEOUT_S:
                fail(f"the {source.name} worker stored {stored:,} of {count:,} in time", log)
            time.sleep(POLL_S)


def stop_worker(worker: subprocess.Popen[bytes], name: str, log: Path) -> None:
    """SIGTERM: the worker finishes its batch in hand and must exit 0."""
    worker.send_signal(signal.SIGTERM)
    try:
        code = worker.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        fail(f"the {name} worker did not stop within {STOP_TIMEOUT_S} s of SIGTERM", log)
    if code != 0:
        fail(f"the {name} worker exited {code} after SIGTERM, not 0", log)


def drain_span(url: str, count: int, log: Path | None = None) -> Rate:
    """The drain by the events' recorded_at: every batch but the last, first to last batch."""
    with psycopg.connect(url) as conn:
        row = conn.execute(_SPAN).fetchone()
    if row is None or row[0] != count or row[1]:
        stored, letters = (row[0], row[1]) if row else (0, 0)
        fail(f"stored {stored:,} events and {letters:,} dead letters from {count:,}", log)
    return Rate(count - int(row[2]), float(row[3]))


def copy_lines(prepared: Sequence[PreparedEvent]) -> list[str]:
    """The rows the worker stores as lines of COPY text, numbered per stream in the order read
    back: formatted by the store's own encoder, off the clock, so the ceiling times only the
    COPYs."""
    encoded = encode_batch(prepared)
    versions: dict[str, int] = {}
    lines = []
    for event, head, tail in zip(prepared, encoded.heads, encoded.tails, strict=True):
        version = versions[event.stream_id] = versions.get(event.stream_id, 0) + 1
        lines.append(f"{head}\t{version}\t{tail}")
    return lines


def raw_copy(url: str, rows: Sequence[str]) -> Rate:
    """COPY the rows into a bare table (no index, constraint or trigger), COPY_BATCH rows a
    transaction, JSON as text; only the COPYs are timed."""
    with psycopg.connect(url, autocommit=True) as conn:
        recreate(conn, RAW_TABLE, _RAW_DDL)
    return copy_rows(url, rows, _RAW_COPY, RAW_TABLE)


def events_copy(env: Services, rows: Sequence[str]) -> Rate:
    """The same COPY into the events table of a fresh event store."""
    fresh_schema(env)
    return copy_rows(env.url, rows, _EVENTS_COPY, "events")


def copy_rows(url: str, rows: Sequence[str], statement: sql.SQL | sql.Composed, table: str) -> Rate:
    """COPY ``rows`` (lines of COPY text) with ``statement``, COPY_BATCH rows a transaction, each
    batch written in one block as the worker writes it; only the COPYs are timed, and
    ``table`` must hold them all after."""
    blocks = [
        "".join(rows[first : first + COPY_BATCH]) for first in range(0, len(rows), COPY_BATCH)
    ]
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        for block in blocks:
            with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy:
                copy.write(block)
        took = time.perf_counter() - started
        counted = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        found = counted.fetchone()
    if not found or found[0] != len(rows):
        fail(f"COPY into {table} stored {found[0] if found else 0:,} rows of {len(rows):,}")
    return Rate(len(rows), took)


def naive_row(
    source: str,
    source_key: str,
    coords: dict[str, Any],
    key: bytes | None,
    value: bytes | None,
) -> NaiveRow:
    """What the naive consumer stores of a message: the key as stream, the payload as data."""
    if key is None or value is None:
        fail(f"{source_key} has no key or no value")
    payload = json.loads(value)
    metadata = {"source": source, **coords, "key": key.decode()}
    event_id = uuid.uuid5(EVENT_ID_NAMESPACE, source_key)
    return key.decode(), event_id, str(payload["type"]), value.decode(), json.dumps(metadata)


def drive_naive(url: str, fetch: Callable[[], list[NaiveItem]], seconds: float) -> Rate:
    """For each fetched message: one INSERT, one COMMIT, then its acknowledgement, if any;
    for ``seconds`` from the first message (or until the backlog runs out)."""
    count = 0
    started: float | None = None
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    with psycopg.connect(url) as conn:
        recreate(conn, NAIVE_TABLE, _NAIVE_DDL)
        conn.commit()
        while started is None or time.perf_counter() - started < seconds:
            items = fetch()
            if not items:
                if started is not None:
                    break  # the backlog ran out
                if time.monotonic() > deadline:
                    fail(f"the naive consumer got no message in {JOIN_TIMEOUT_S} s")
                continue
            if started is None:
                started = time.perf_counter()
            for row, ack in items:
                conn.execute(_NAIVE_INSERT, row)
                conn.commit()
                if ack is not None:
                    ack()
            count += len(items)
    return Rate(count, time.perf_counter() - started)


# --- reporting -------------------------------------------------------------------------------


def mb_text(value: float) -> str:
    """Megabytes for the table."""
    return f"{value:,.1f} MB"


def share_text(values: Sequence[float | None]) -> str:
    """The median share of a core, when it could be read."""
    known = [v for v in values if v is not None]
    return f"{median(known):.0%}" if known else "n/a"


def spread_text(values: Sequence[float], text: Callable[[float], str] = rate_text) -> str:
    """Median with min and max."""
    return (
        f"median {text(median(values))} (min {text(min(values))}, max {text(max(values))}, "
        f"n={len(values)})"
    )


# --- the phases ------------------------------------------------------------------------------


SIDES = ("ours", "raw", "events", "naive")


@dataclass(frozen=True)
class Round:
    """One round on one backlog: ours end to end, the raw COPY ceiling, the same COPY into the
    events table, the naive consumer."""

    ours: OursRun
    raw: Rate
    events: Rate
    naive: Rate


def one_round(env: Services, source: Source, round_no: int) -> Round:
    """A fresh backlog, read back and mapped off the clock; then the four sides on it, in an
    order rotating with the round."""
    target = source.preload(BACKLOG)
    rows = copy_lines(source.prepared(target, BACKLOG))
    shift = round_no % len(SIDES)
    ours: OursRun | None = None
    raw = events = naive = Rate(0, 0.0)
    for side in SIDES[shift:] + SIDES[:shift]:
        if side == "ours":
            ours = run_ours(env, source, target, BACKLOG)
        elif side == "raw":
            raw = raw_copy(env.url, rows)
        elif side == "events":
            events = events_copy(env, rows)
        else:
            naive = source.naive(env.url, target, NAIVE_SECONDS)
    source.discard(target)
    assert ours is not None
    progress(
        f"      round {round_no + 1}/{ROUNDS}: ours {rate_text(ours.drain.per_s)} over the drain"
        f" (first batch after {ours.first_s:.1f} s, peak RSS {mb_text(ours.peak_rss_mb)}),"
        f" raw COPY {rate_text(raw.per_s)}, into events {rate_text(events.per_s)},"
        f" naive {rate_text(naive.per_s)} ({naive.count:,} in {naive.seconds:.1f} s)"
    )
    return Round(ours, raw, events, naive)


def bench_source(env: Services, source: Source, phase: int) -> tuple[list[Row], float]:
    """ROUNDS rounds on 100,000 backlogs, then ours on a backlog four times larger; the rows,
    and our median rate over the drain."""
    progress(
        f"[{phase}/5] {source.name}: {ROUNDS} rounds, each on a fresh backlog of {BACKLOG:,}"
        f" readings over {KEYS:,} keys {source.layout}: ours end to end (a fresh store each"
        f" time), raw COPY of the same rows, naive consumer for {NAIVE_SECONDS:.0f} s;"
        " rotating order"
    )
    rounds = [one_round(env, source, round_no) for round_no in range(ROUNDS)]
    progress(
        f"[{phase + 1}/5] {source.name}: ours on a backlog of {LARGE_BACKLOG:,} readings"
        " (memory as the backlog grows)"
    )
    target = source.preload(LARGE_BACKLOG)
    large = run_ours(env, source, target, LARGE_BACKLOG)
    source.discard(target)
    return _source_rows(source.name, rounds, large), median([r.ours.drain.per_s for r in rounds])


def _source_rows(name: str, rounds: Sequence[Round], large: OursRun) -> list[Row]:
    ours = [r.ours.drain.per_s for r in rounds]
    raw = [r.raw.per_s for r in rounds]
    into_events = [r.events.per_s for r in rounds]
    naive = [r.naive.per_s for r in rounds]
    peaks = [r.ours.peak_rss_mb for r in rounds]
    worker = f"tuskflow consume {name}"
    print(f"      {worker + ', over the drain':<38} {spread_text(ours)}")
    print(
        f"      {'  spawn to all stored':<38} {spread_text([r.ours.overall for r in rounds])};"
        f" first batch after {spread_text([r.ours.first_s for r in rounds], _seconds)}"
    )
    worker_cpu = share_text([r.ours.worker_cpu for r in rounds])
    backend_cpu = share_text([r.ours.backend_cpu for r in rounds])
    print(
        f"      {'  CPU while draining':<38} worker {worker_cpu} of a core,"
        f" its PostgreSQL backend {backend_cpu}"
    )
    print(f"      {f'raw COPY, {COPY_BATCH:,}-row transactions':<38} {spread_text(raw)}")
    print(f"      {'  the same into the events table':<38} {spread_text(into_events)}")
    print(f"      {'naive, INSERT + COMMIT per message':<38} {spread_text(naive)}")
    ours_rate, raw_rate, naive_rate = median(ours), median(raw), median(naive)
    events_rate = median(into_events)
    small_peak = median(peaks)
    growth = large.peak_rss_mb / small_peak
    print(
        f"      ours/raw {ours_rate / raw_rate:.2f}   ours/naive {ours_rate / naive_rate:.1f}"
        f"   (COPY into events)/raw {events_rate / raw_rate:.2f}"
    )
    print(
        f"      peak RSS: {spread_text(peaks, mb_text)} at {BACKLOG:,};"
        f" {mb_text(large.peak_rss_mb)} at {LARGE_BACKLOG:,} ({growth:.2f}x); that drain"
        f" {rate_text(large.drain.per_s)}, worker CPU {share_text([large.worker_cpu])}"
    )
    return [
        Row(
            f"{name} end to end vs raw COPY",
            rate_text(ours_rate),
            rate_text(raw_rate),
            ours_rate / raw_rate,
            f">= {RAW_TARGET:.2f}",
            ours_rate / raw_rate >= RAW_TARGET,
        ),
        Row(
            f"{name} end to end vs naive consumer",
            rate_text(ours_rate),
            rate_text(naive_rate),
            ours_rate / naive_rate,
            f">= {NAIVE_TARGET:.2f}",
            ours_rate / naive_rate >= NAIVE_TARGET,
        ),
        Row(
            f"{name} peak RSS, {LARGE_BACKLOG // 1000}k vs {BACKLOG // 1000}k backlog",
            mb_text(large.peak_rss_mb),
            mb_text(small_peak),
            growth,
            f"<= {MEMORY_TARGET:.2f}",
            growth <= MEMORY_TARGET,
        ),
        Row(
            f"{name} end to end vs COPY into events",
            rate_text(ours_rate),
            rate_text(events_rate),
            ours_rate / events_rate,
            "-",
            None,
        ),
        Row(
            f"{name} spawn to all stored vs raw COPY",
            rate_text(median([r.ours.overall for r in rounds])),
            rate_text(raw_rate),
            median([r.ours.overall for r in rounds]) / raw_rate,
            "-",
            None,
        ),
    ]


def _redis_against_kafka(redis_rate: float, kafka_rate: float) -> Row:
    """The Redis path's cost against the Kafka path's: the same backlog, store and batch size."""
    return Row(
        "redis end to end vs kafka end to end",
        rate_text(redis_rate),
        rate_text(kafka_rate),
        redis_rate / kafka_rate,
        f">= {REDIS_TARGET:.2f}",
        redis_rate / kafka_rate >= REDIS_TARGET,
    )


def _seconds(value: float) -> str:
    return f"{value:.1f} s"


# --- the profile -----------------------------------------------------------------------------


_AREAS = (
    ("Kafka client (librdkafka calls)", ("cimpl", "confluent_kafka")),
    ("psycopg (incl. waiting for PostgreSQL)", ("psycopg",)),
    ("Redis client (redis-py: RESP parsing, socket reads)", ("/redis/", "_socket")),
    ("JSON", ("json",)),
    ("uuid and hashing", ("uuid", "hashlib", "sha1")),
    ("logging", ("structlog", "logging")),
    ("workers/ (mapping, consumer loop)", ("/workers/",)),
    ("eventstore/ (prepare, append)", ("/eventstore/",)),
)


def area(label: tuple[str, int, str]) -> str:
    """The part of the stack a profiled function belongs to."""
    where = f"{label[0]} {label[2]}"
    for name, marks in _AREAS:
        if any(mark in where for mark in marks):
            return name
    return "other (builtins, dataclasses, threading, ...)"


def profile(env: Services, source: Source) -> None:
    """Our worker's loop in a thread of this process under cProfile, on a fresh backlog."""
    progress(
        f"[5/5] profile: a {source.name} target was missed; its ingestor in this process under"
        f" cProfile on a backlog of {PROFILE_BACKLOG:,} (start-up and the last read included)"
    )
    fresh_schema(env)
    target = source.preload(PROFILE_BACKLOG)
    group = source.group("profile")
    ingestor = source.ingestor(env.url, target, group)
    profiler = cProfile.Profile()
    stop = threading.Event()

    def profiled() -> None:
        profiler.enable()
        try:
            ingestor.run(stop)
        finally:
            profiler.disable()

    thread = threading.Thread(target=profiled, name=f"profiled-{source.name}-ingestor")
    started = time.perf_counter()
    thread.start()
    try:
        first, done = _wait_stored(env, source, group, PROFILE_BACKLOG, started)
    finally:
        stop.set()
        thread.join(60)
    wall = time.perf_counter() - started
    source.discard(target)
    drain = drain_span(env.url, PROFILE_BACKLOG)
    print(
        f"      first batch stored after {first:.2f} s (start-up: idle in the source client),"
        f" all after {done:.2f} s, stopped after {wall:.2f} s;"
        f" {rate_text(drain.per_s)} over the drain under the profiler"
    )
    print_profile(profiler)


def _wait_stored(
    env: Services, source: Source, group: str, count: int, started: float
) -> tuple[float, float]:
    """Seconds from ``started`` until the first batch and until every message was stored."""
    first = 0.0
    with psycopg.connect(env.url, autocommit=True) as conn:
        while (stored := source.stored(conn, group)) < count:
            now = time.perf_counter() - started
            if stored and not first:
                first = now
            if now > DRAIN_TIMEOUT_S:
                fail(f"the profiled {source.name} ingestor did not store {count:,} in time")
            time.sleep(PROFILE_POLL_S)
    return first, time.perf_counter() - started


def print_profile(profiler: cProfile.Profile) -> None:
    """The top functions by own time, and own time summed by area."""
    profiler.create_stats()
    stats = profiler.stats
    total = sum(float(entry[2]) for entry in stats.values())
    print(
        f"      {total:.2f} s profiled in the ingestor's thread (fetch, map, wait for the batch"
        " writer; the writer's own thread, which stores each batch, is not profiled)"
    )
    print(f"      top {PROFILE_TOP} by own time:")
    ranked = sorted(stats.items(), key=lambda item: float(item[1][2]), reverse=True)
    for label, (_, calls, own, cumulative, _) in ranked[:PROFILE_TOP]:
        print(
            f"        {float(own):7.3f} s {float(own) / total:6.1%}  cum {float(cumulative):7.3f} s"
            f"  {calls:>9,} calls  {_label_text(label)}"
        )
    areas: dict[str, float] = {}
    for label, entry in stats.items():
        areas[area(label)] = areas.get(area(label), 0.0) + float(entry[2])
    print("      own time by area:")
    for name, seconds in sorted(areas.items(), key=lambda item: item[1], reverse=True):
        print(f"        {seconds:7.3f} s {seconds / total:6.1%}  {name}")


def _label_text(label: tuple[str, int, str]) -> str:
    file_name, line, function = label
    if file_name == "~":
        return function
    for root in (str(ROOT) + "/", "site-packages/"):
        if root in file_name:
            file_name = file_name.rpartition(root)[2]
            break
    else:
        file_name = Path(file_name).name
    return f"{function} ({file_name}:{line})"


# --- the run ---------------------------------------------------------------------------------


def print_environment(env: Services, red: RedisBench) -> None:
    """What the numbers were measured on."""
    with psycopg.connect(env.base_url, autocommit=True) as conn:
        version = conn.execute("SELECT version()").fetchone()
        commit = conn.execute("SHOW synchronous_commit").fetchone()
        fsync = conn.execute("SHOW fsync").fetchone()
    info: Any = red.client.info("server")
    print(f"PostgreSQL: {version[0] if version else 'unknown'}")
    print(
        f"  synchronous_commit {commit[0] if commit else '?'}, fsync {fsync[0] if fsync else '?'}"
        f"   Redis {info.get('redis_version', '?')}"
    )
    print(
        f"cores: {os.cpu_count()}   Python {platform.python_version()}   psycopg"
        f" {psycopg.__version__}   confluent-kafka {confluent_kafka.version()[0]} (librdkafka"
        f" {confluent_kafka.libversion()[0]})   redis-py {redis.__version__}"
    )
    print(
        f"schema {SCHEMA} (recreated per run of ours, dropped at the end);"
        f" topics and streams {PREFIX}-* (deleted)"
    )


def run_all(env: Services, sources: Sequence[Source]) -> list[Row]:
    """Each source, then a profile of each source that missed a target."""
    fresh_schema(env)
    rows: list[Row] = []
    missed = []
    drained: dict[str, float] = {}
    for index, source in enumerate(sources):
        found, drained[source.name] = bench_source(env, source, 2 * index + 1)
        rows += found
        if any(row.met is False for row in found):
            missed.append(source)
    if {"kafka", "redis"} <= drained.keys():
        rows.append(_redis_against_kafka(drained["redis"], drained["kafka"]))
    if not missed:
        progress("[5/5] profile: every target met, skipped")
    else:
        tune_for_consuming()  # as a consumer process is: after every measurement above
    for source in missed:
        profile(env, source)
    return rows


def main() -> None:
    """Run every phase, clean up, print the summary."""
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}-") as logs:
        env = services(Path(logs))
        # Info lines of migrate() and of the profiled ingestor would interleave with the output.
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
        red = RedisBench(env.redis_url)
        print_environment(env, red)
        started = time.perf_counter()
        kafka = KafkaBench(env.bootstrap)
        try:
            found = run_all(env, [kafka, red])
        finally:
            progress(f"cleaning up: dropping {SCHEMA}, deleting the topics, streams and groups")
            drop_schema(env.base_url, SCHEMA)
            kafka.cleanup()
            red.cleanup()
    print_summary(found)
    print(f"\nfull run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
