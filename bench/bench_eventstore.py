"""Benchmark: tuskflow's PostgreSQL event store against raw COPY and the eventsourcing library.

Run it against local services:

    make up && eval "$(.venv/bin/tuskflow local env)" && .venv/bin/python bench/bench_eventstore.py

The eventsourcing library is measured at two levels (see ``_eventsourcing_reference``):

- the *application* level, its normal use and the level the issue's figures for it describe:
  an ``Application`` of ``Meter`` aggregates whose events its mapper transcodes to JSON, saved
  with ``app.save()``, read back decoded through the notification log and the mapper, and
  replayed with ``app.repository.get()``. The targets are held against this level;
- the *recorder* level, its ``PostgresApplicationRecorder`` fed and read as bytes, with no
  domain events, mapping or decoding: a floor for the library, shown as extra rows.

In one process run, against the PostgreSQL named by TUSKFLOW_DATABASE_URL, it measures side by
side and prints medians and ratios (it never asserts a time):

1. batch ingestion: 1,000-event batches over 100 streams through ``append_batch``, against the
   same rows COPYed into the events table of a second, empty store (the ceiling: its indexes
   and position trigger, none of the batch's checks), the batch port's ``write_batch`` of
   batches prepared off the clock (as consumers write), a raw COPY into a bare table, the
   application saving a 1,000-event aggregate (built before the clock starts, as our batches
   are) and the recorder's ``save_many``, interleaved round-robin per batch so that noise hits
   all six alike;
2. single-event appends with an expected version, one transaction each, against the
   application saving one new event of a live aggregate and the recorder's ``save_single``,
   interleaved in chunks;
3. reading every event from the start in 1,000-event pages (decoded, by us and by the
   application; as bytes by the recorder), and replaying one 10,000-event aggregate without a
   snapshot (``AggregateRepository.load``, ``app.repository.get``, the recorder's select);
4. loading a 10,000-event and a 100,000-event aggregate through a snapshot taken 50 events
   before the end: the load time should not grow with the stream.

Our stores live in schemas ``tf_bench`` and ``tf_bench_port``, the ceiling's in
``tf_bench_copy`` (dropped first and at the end), eventsourcing in
``es_app_bench`` (application) and ``es_bench`` (recorder), both emptied at the end. A full
run takes under a minute on two cores.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from importlib.metadata import version as package_version
from types import TracebackType
from typing import Any, Self

import psycopg
from _eventsourcing_reference import (
    EventsourcingApplicationReference,
    EventsourcingReference,
)
from _eventsourcing_reference import (
    Meter as EsMeter,
)
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
from psycopg import sql

from tuskflow.eventstore import (
    NO_STREAM,
    Aggregate,
    AggregateRepository,
    NewEvent,
    PostgresEventStore,
    StreamEvent,
    migrate,
)
from tuskflow.eventstore.postgres._append import encode_batch
from tuskflow.eventstore.validation import DEFAULT_MAX_EVENT_BYTES, prepare

SCHEMA = "tf_bench"
# A second, empty event store: the COPY into its events table is append_batch's ceiling.
COPY_SCHEMA = "tf_bench_copy"
# A third: the batch port's write_batch of batches prepared off the clock, as consumers write.
PORT_SCHEMA = "tf_bench_port"
ES_SCHEMA = "es_bench"
ES_APP_SCHEMA = "es_app_bench"
RAW_TABLE = "raw_events"
EVENT_TYPE = "MeasurementRecorded"
ES_NAMESPACE = uuid.UUID("6f1c9a0e-3b7d-4c55-9a43-1d2e8f0b7c61")

BATCH_SIZE = 1000
BATCH_STREAMS = 100
BATCH_ROUNDS = 30
BATCH_WARMUP = 2

SINGLE_APPENDS = 2000
SINGLE_STREAMS = 20
SINGLE_CHUNK = 50

PAGE = 1000
READ_EVENTS = 50_000
REPLAY_EVENTS = 10_000
READ_REPEATS = 7

SMALL_AGGREGATE = 10_000
LARGE_AGGREGATE = 100_000
SNAPSHOT_TAIL = 50
LOAD_REPEATS = 15
# Any value turns on snapshot restore in load(); the bench never saves through the repository.
SNAPSHOT_EVERY = 1000

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

# The figures for eventsourcing at the application level (low, high).
ANCHOR_SINGLE = (600.0, 1000.0)  # single-event saves/s
ANCHOR_LARGE = (6000.0, 10_000.0)  # events/s in large saves
ANCHOR_REPLAY = (15_000.0, 19_000.0)  # events/s replaying one aggregate

# Marks on the rows whose reference is the library's recorder level.
RECORDER_READS = "recorder (bytes only, no decoding)"
RECORDER_WRITES = "recorder (bytes only, no event mapping)"

_NOT_SET = (
    "TUSKFLOW_DATABASE_URL is not set: run `make up` and "
    '`eval "$(.venv/bin/tuskflow local env)"`, then run this again'
)


# --- database plumbing -----------------------------------------------------------------------


def database_url() -> str:
    """The PostgreSQL URL from the environment, or exit saying how to get one."""
    url = os.environ.get("TUSKFLOW_DATABASE_URL")
    if not url:
        sys.exit(_NOT_SET)
    return url


def fresh_store(base_url: str) -> PostgresEventStore:
    """Recreate the bench schema, migrate it, and open a store on it."""
    return PostgresEventStore(fresh_schema(base_url, SCHEMA))


def server_version(base_url: str) -> str:
    """The server's version() string."""
    with psycopg.connect(base_url, autocommit=True) as conn:
        row = conn.execute("SELECT version()").fetchone()
    return str(row[0]) if row else "unknown"


def fresh_schema(base_url: str, schema: str) -> str:
    """Recreate ``schema`` as an empty, migrated event store; its URL."""
    drop_schema(base_url, schema)
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = with_search_path(base_url, schema)
    migrate(url)
    return url


# --- the events and the contenders -----------------------------------------------------------


class EventsCopy:
    """The ceiling for append_batch: the same rows COPYed into the events table of a second,
    empty store (its indexes, constraints and position trigger), with no stream rows, no
    idempotency check and no expected versions. The COPY text is made by the store's own
    encoder off the clock, so only the COPY is timed."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.versions: dict[str, int] = {}

    def prepared(self, batch: Sequence[StreamEvent]) -> Callable[[], None]:
        """The timed write of ``batch``, its COPY text made now."""
        events = [prepare(i.stream_id, i.event, DEFAULT_MAX_EVENT_BYTES) for i in batch]
        encoded = encode_batch(events)
        lines = []
        for event, head, tail in zip(events, encoded.heads, encoded.tails, strict=True):
            version = self.versions[event.stream_id] = self.versions.get(event.stream_id, 0) + 1
            lines.append(f"{head}\t{version}\t{tail}")
        return partial(self._copy, "".join(lines))

    def _copy(self, block: str) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur, cur.copy(_EVENTS_COPY) as copy:
            copy.write(block)

    def count(self) -> int:
        """Rows in the second store's events table."""
        row = self.conn.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def port_write(store: PostgresEventStore, batch: Sequence[StreamEvent]) -> Callable[[], object]:
    """The batch port's timed write of ``batch``, prepared now as a consumer prepares it while
    the previous batch is written."""
    events = [prepare(i.stream_id, i.event, DEFAULT_MAX_EVENT_BYTES) for i in batch]
    return partial(store.write_batch, store.prepare(events))


def measurement(i: int) -> NewEvent:
    """The i-th event: a small measurement with Kafka-like metadata."""
    return NewEvent(
        EVENT_TYPE,
        {"value": i, "unit": "kg", "site": "north-7"},
        {"source": "kafka", "offset": i},
    )


def spread_batch(first: int, streams: Sequence[str]) -> list[StreamEvent]:
    """BATCH_SIZE events numbered from ``first``, dealt round-robin over ``streams``."""
    return [
        StreamEvent(streams[i % len(streams)], measurement(i))
        for i in range(first, first + BATCH_SIZE)
    ]


def stream_batches(stream_id: str, first: int, count: int) -> Iterator[list[StreamEvent]]:
    """``count`` events of one stream numbered from ``first``, in batches of BATCH_SIZE."""
    end = first + count
    for start in range(first, end, BATCH_SIZE):
        stop = min(start + BATCH_SIZE, end)
        yield [StreamEvent(stream_id, measurement(i)) for i in range(start, stop)]


class Meter(Aggregate):
    """A trivial aggregate: the sum of its events' values."""

    def __init__(self, stream_id: str) -> None:
        super().__init__(stream_id)
        self.total = 0

    def apply(self, event_type: str, data: Mapping[str, Any]) -> None:
        """Add the event's value."""
        self.total += int(data["value"])

    def snapshot_state(self) -> dict[str, Any]:
        """The running total."""
        return {"total": self.total}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Take the running total from a snapshot."""
        self.total = int(state["total"])


class RawCopy:
    """The floor: COPY of the same rows into a table with no index, constraint or trigger."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute(_RAW_DDL)
        self.versions: dict[str, int] = {}

    def write(self, batch: Sequence[StreamEvent]) -> None:
        """One transaction: number each stream's events and COPY them, JSON as text."""
        versions = self.versions
        with self.conn.transaction(), self.conn.cursor() as cur, cur.copy(_RAW_COPY) as copy:
            for item in batch:
                event = item.event
                stream_version = versions.get(item.stream_id, 0) + 1
                versions[item.stream_id] = stream_version
                copy.write_row(
                    (
                        item.stream_id,
                        stream_version,
                        event.event_id,
                        event.event_type,
                        json.dumps(event.data),
                        json.dumps(event.metadata),
                    )
                )

    def count(self) -> int:
        """Rows in the raw table."""
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(RAW_TABLE))
        row = self.conn.execute(query).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class EsWriter:
    """eventsourcing fed the same StreamEvents: a uuid per stream, versions counted here."""

    def __init__(self, ref: EventsourcingReference) -> None:
        self.ref = ref
        self.versions: dict[str, int] = {}
        self._ids: dict[str, uuid.UUID] = {}

    def aggregate_id(self, stream_id: str) -> uuid.UUID:
        """The aggregate uuid standing for a stream."""
        found = self._ids.get(stream_id)
        if found is None:
            found = self._ids[stream_id] = uuid.uuid5(ES_NAMESPACE, stream_id)
        return found

    def save_batch(self, batch: Sequence[StreamEvent]) -> None:
        """One transaction: number each stream's events and save them, data as JSON bytes."""
        versions = self.versions
        rows = []
        for item in batch:
            stream_version = versions.get(item.stream_id, 0) + 1
            versions[item.stream_id] = stream_version
            state = json.dumps(item.event.data).encode()
            rows.append((self.aggregate_id(item.stream_id), stream_version, EVENT_TYPE, state))
        self.ref.save_many(rows)

    def save_one(self, aggregate_id: uuid.UUID, stream_version: int, event: NewEvent) -> None:
        """One event in its own transaction, data as JSON bytes."""
        self.ref.save_single(
            aggregate_id, stream_version, event.event_type, json.dumps(event.data).encode()
        )

    def reset(self) -> None:
        """Empty the reference's table and forget the versions."""
        self.ref.reset()
        self.versions.clear()


class AppWriter:
    """eventsourcing's application level fed the same events: one live Meter per stream."""

    def __init__(self, ref: EventsourcingApplicationReference) -> None:
        self.ref = ref
        self._ids: dict[str, uuid.UUID] = {}

    def build(self, batch: Sequence[StreamEvent]) -> EsMeter:
        """A new meter holding the batch's values as pending events (not timed: our batches
        of StreamEvents are built before the clock starts too)."""
        return self.ref.new_meter(len(batch), first=int(batch[0].event.data["value"]))

    def save_one(self, stream_id: str, event: NewEvent) -> None:
        """The stream's first event creates its meter; later ones are one save each."""
        value = int(event.data["value"])
        found = self._ids.get(stream_id)
        if found is None:
            self._ids[stream_id] = self.ref.create(1, first=value)
        else:
            self.ref.append_one(found, value)

    def reset(self) -> None:
        """Empty the application's table and forget the meters."""
        self.ref.reset()
        self._ids.clear()


# --- measuring and reporting -----------------------------------------------------------------


def timed(action: Callable[..., object], *args: Any) -> float:
    """Seconds one call of ``action(*args)`` takes."""
    started = time.perf_counter()
    action(*args)
    return time.perf_counter() - started


def ms_text(seconds: float) -> str:
    """A duration in milliseconds for the table."""
    return f"{seconds * 1000:,.2f} ms"


def spread_text(samples: Sequence[float]) -> str:
    """Median with min and max, in milliseconds."""
    return (
        f"median {ms_text(median(samples))} (min {ms_text(min(samples))}, "
        f"max {ms_text(max(samples))}, n={len(samples)})"
    )


@dataclass(frozen=True)
class Anchor:
    """A rate measured for eventsourcing's application level, and the issue's range for it."""

    measure: str
    measured: float
    low: float
    high: float
    unit: str

    def verdict(self) -> str:
        """Within the range, or how far above or below it."""
        if self.measured > self.high:
            return f"above ({self.measured / self.high:.2f}x the top)"
        if self.measured < self.low:
            return f"below ({self.measured / self.low:.2f}x the bottom)"
        return "within"


@dataclass
class Findings:
    """What the phases found: summary rows, and application-level rates to hold to anchors."""

    rows: list[Row]
    anchors: list[Anchor]


def print_anchors(anchors: Sequence[Anchor]) -> None:
    """The application-level rates against the issue's figures for them."""
    print()
    print("eventsourcing application level vs the issue's figures for it")
    for anchor in anchors:
        measured = rate_text(anchor.measured, anchor.unit)
        expected = f"{anchor.low:,.0f}-{anchor.high:,.0f} {anchor.unit}"
        print(f"  {anchor.measure:<26} {measured:>14}   issue {expected:<22} {anchor.verdict()}")


# --- 1. batch ingestion ----------------------------------------------------------------------


def bench_batches(
    store: PostgresEventStore,
    port: PostgresEventStore,
    raw: RawCopy,
    ceiling: EventsCopy,
    es: EsWriter,
    app: AppWriter,
    out: Findings,
) -> None:
    """Batches of 1,000: append_batch vs raw COPY vs app.save of a 1,000-event aggregate vs
    the recorder's save_many."""
    total = BATCH_WARMUP + BATCH_ROUNDS
    progress(
        f"[1/4] batch ingestion: {BATCH_ROUNDS} rounds (+{BATCH_WARMUP} warm-up) of "
        f"{BATCH_SIZE:,}-event batches (ours, raw and recorder over {BATCH_STREAMS} streams, "
        "the application one aggregate), round-robin per batch"
    )
    streams = [f"meter-{k:03d}" for k in range(BATCH_STREAMS)]
    contenders: dict[str, Callable[[Sequence[StreamEvent]], Callable[[], object]]] = {
        "ours": lambda batch: partial(store.append_batch, batch),
        "raw": lambda batch: partial(raw.write, batch),
        "events": ceiling.prepared,
        "port": partial(port_write, port),
        "app": lambda batch: partial(app.ref.save, app.build(batch)),
        "es": lambda batch: partial(es.save_batch, batch),
    }
    seconds, building = _interleave_batches(contenders, streams, total)
    _check_counts(
        total * BATCH_SIZE,
        store.head(),
        port.head(),
        raw.count(),
        ceiling.count(),
        app.ref.count(),
        es.ref.read_all(),
    )
    rates = {name: per_second(BATCH_SIZE, median(s)) for name, s in seconds.items()}
    labels = {
        "ours": "append_batch",
        "raw": "raw COPY",
        "events": "COPY into events",
        "port": "write_batch, prepared",
        "app": "eventsourcing app.save",
        "es": "es recorder save_many",
    }
    for name, label in labels.items():
        print(f"      {label:<24} {rate_text(rates[name]):>14}   {spread_text(seconds[name])}")
    print(
        f"      (building each 1,000-event aggregate before app.save, not timed: "
        f"median {ms_text(median(building))})"
    )
    ours = rates["ours"]
    print(
        f"      ours/raw {ours / rates['raw']:.2f}   ours/app {ours / rates['app']:.2f}   "
        f"ours/recorder {ours / rates['es']:.2f}"
    )
    out.anchors.append(Anchor("large saves", rates["app"], *ANCHOR_LARGE, "ev/s"))
    out.rows += [
        Row(
            "batch ingest vs COPY into events",
            rate_text(ours),
            rate_text(rates["events"]),
            ours / rates["events"],
            ">= 0.80",
            ours / rates["events"] >= 0.8,
        ),
        Row(
            "prepared write_batch vs COPY into events",
            rate_text(rates["port"]),
            rate_text(rates["events"]),
            rates["port"] / rates["events"],
            "-",
            None,
        ),
        Row(
            "batch ingest vs raw COPY",
            rate_text(ours),
            rate_text(rates["raw"]),
            ours / rates["raw"],
            ">= 0.60",
            ours / rates["raw"] >= 0.6,
        ),
        Row(
            "batch ingest vs es app.save",
            rate_text(ours),
            rate_text(rates["app"]),
            ours / rates["app"],
            "-",
            None,
        ),
        Row(
            f"batch ingest vs es {RECORDER_WRITES}",
            rate_text(ours),
            rate_text(rates["es"]),
            ours / rates["es"],
            "-",
            None,
        ),
    ]


def _interleave_batches(
    contenders: Mapping[str, Callable[[Sequence[StreamEvent]], Callable[[], object]]],
    streams: Sequence[str],
    rounds: int,
) -> tuple[dict[str, list[float]], list[float]]:
    """Per round one batch, written by each contender in a rotating order; warm-up dropped.

    Each contender first prepares its write from the batch, off the clock, then the write is
    timed. Returns the write times per contender and the application's preparation times.
    """
    names = list(contenders)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    building: list[float] = []
    for round_no in range(rounds):
        batch = spread_batch(round_no * BATCH_SIZE, streams)
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            write = contenders[name](batch)
            prepared = time.perf_counter() - started
            took = timed(write)
            if round_no >= BATCH_WARMUP:
                seconds[name].append(took)
                if name == "app":
                    building.append(prepared)
    return seconds, building


def _check_counts(expected: int, *counts: int) -> None:
    """Exit when a contender did not store every event: its times would mean nothing."""
    if any(count != expected for count in counts):
        sys.exit(f"stored counts {counts} differ from the {expected} events written")


# --- 2. single appends -----------------------------------------------------------------------


SINGLE_SIDES = ("ours", "app", "es")


def bench_singles(store: PostgresEventStore, es: EsWriter, app: AppWriter, out: Findings) -> None:
    """One event per transaction: append with an expected version vs app.save of one new
    event vs the recorder's save_single."""
    progress(
        f"[2/4] single appends: {SINGLE_APPENDS:,} per side over {SINGLE_STREAMS} streams, "
        f"one transaction each, rotating in chunks of {SINGLE_CHUNK} (+1 warm-up per stream)"
    )
    streams = [f"single-{k:02d}" for k in range(SINGLE_STREAMS)]
    total = SINGLE_STREAMS + SINGLE_APPENDS
    events = [measurement(i) for i in range(total)]
    latencies: dict[str, list[float]] = {name: [] for name in SINGLE_SIDES}
    for chunk_no, start in enumerate(range(0, total, SINGLE_CHUNK)):
        indexes = range(start, min(start + SINGLE_CHUNK, total))
        shift = chunk_no % len(SINGLE_SIDES)
        for name in SINGLE_SIDES[shift:] + SINGLE_SIDES[:shift]:
            for i in indexes:
                stream_id = streams[i % SINGLE_STREAMS]
                took = _append_one(name, store, es, app, stream_id, i, events[i])
                if i >= SINGLE_STREAMS:
                    latencies[name].append(took)
    before = BATCH_SIZE * (BATCH_WARMUP + BATCH_ROUNDS)  # phase 1 wrote these
    _check_counts(
        total,
        store.head() - before,
        app.ref.count() - before,
        es.ref.read_all() - before,
    )
    _single_rows(latencies, out)


def _append_one(
    name: str,
    store: PostgresEventStore,
    es: EsWriter,
    app: AppWriter,
    stream_id: str,
    i: int,
    event: NewEvent,
) -> float:
    """Time the i-th single append of one side; the stream's current version is i // streams."""
    current = i // SINGLE_STREAMS
    if name == "ours":
        return timed(store.append, stream_id, [event], current if current else NO_STREAM)
    if name == "app":
        return timed(app.save_one, stream_id, event)
    return timed(es.save_one, es.aggregate_id(stream_id), current + 1, event)


def _single_rows(latencies: Mapping[str, list[float]], out: Findings) -> None:
    labels = {
        "ours": "append (expected ver.)",
        "app": "eventsourcing app.save",
        "es": "es recorder save_single",
    }
    for name, label in labels.items():
        samples = latencies[name]
        throughput = per_second(len(samples), sum(samples))
        print(
            f"      {label:<26} {rate_text(1 / median(samples), 'appends/s'):>16}   "
            f"{spread_text(samples)}, overall {throughput:,.0f}/s"
        )
    ours, app, rec = (median(latencies[name]) for name in SINGLE_SIDES)
    print(
        f"      ours/app {app / ours:.2f}   ours/recorder {rec / ours:.2f} "
        "(appends/s at the median latency)"
    )
    out.anchors.append(Anchor("single-event saves", 1 / app, *ANCHOR_SINGLE, "/s"))
    out.rows += [
        Row(
            "single append vs es app.save (/s)",
            rate_text(1 / ours, "/s"),
            rate_text(1 / app, "/s"),
            app / ours,
            ">= 1.50",
            app / ours >= 1.5,
        ),
        Row(
            "single append latency vs es app (lower=better)",
            ms_text(ours),
            ms_text(app),
            ours / app,
            "-",
            None,
        ),
        Row(
            f"single append vs es {RECORDER_WRITES}",
            rate_text(1 / ours, "/s"),
            rate_text(1 / rec, "/s"),
            rec / ours,
            "-",
            None,
        ),
    ]


# --- 3. reading all and replaying ------------------------------------------------------------


def bench_reads(store: PostgresEventStore, es: EsWriter, app: AppWriter, out: Findings) -> None:
    """Read every event in pages, and replay a 10,000-event aggregate without a snapshot."""
    spread = READ_EVENTS - REPLAY_EVENTS
    per_stream = spread // BATCH_STREAMS
    progress(
        f"[3/4] reads: loading {READ_EVENTS:,} events into each store ({spread:,} over "
        f"{BATCH_STREAMS} streams + one {REPLAY_EVENTS:,}-event aggregate)"
    )
    streams = [f"meter-{k:03d}" for k in range(BATCH_STREAMS)]
    batches = [spread_batch(first, streams) for first in range(0, spread, BATCH_SIZE)]
    batches += list(stream_batches("replay-10k", spread, REPLAY_EVENTS))
    for batch in batches:
        store.append_batch(batch)
        es.save_batch(batch)
    for k in range(BATCH_STREAMS):
        app.ref.create(per_stream, first=k * per_stream)
    app_replay_id = app.ref.create(REPLAY_EVENTS, first=spread)
    _check_counts(READ_EVENTS, store.head(), app.ref.count(), es.ref.read_all())
    progress(f"      reading all and replaying, {READ_REPEATS} rotating repeats (+1 warm-up)")
    plain = AggregateRepository(store, Meter)
    replay_id = es.aggregate_id("replay-10k")
    reads = _repeat_rotating(
        {
            "ours": lambda: _check_counts(READ_EVENTS, read_all_ours(store)),
            "app": lambda: _check_counts(READ_EVENTS, app.ref.read_all(PAGE)),
            "es": lambda: _check_counts(READ_EVENTS, es.ref.read_all(PAGE)),
        },
        READ_REPEATS,
    )
    replays = _repeat_rotating(
        {
            "ours": lambda: _check_counts(REPLAY_EVENTS, plain.load("replay-10k").version),
            "app": lambda: _check_counts(REPLAY_EVENTS, app.ref.replay(app_replay_id)),
            "es": lambda: _check_counts(REPLAY_EVENTS, es.ref.replay(replay_id)),
        },
        READ_REPEATS,
    )
    labels = {
        "ours": "ours",
        "app": "es application",
        "es": "es recorder",
    }
    heading = f"read all ({READ_EVENTS:,} events)"
    out.rows += _rate_rows("read all", heading, READ_EVENTS, reads, labels)
    heading = f"replay ({REPLAY_EVENTS:,} events, no snapshot)"
    out.rows += _rate_rows("replay 10k", heading, REPLAY_EVENTS, replays, labels)
    rate = per_second(REPLAY_EVENTS, median(replays["app"]))
    out.anchors.append(Anchor("replay one aggregate", rate, *ANCHOR_REPLAY, "ev/s"))
    print(
        "      note: ours and the application decode every event's JSON (ours data and"
        " metadata into\n      RecordedEvents, the application's mapper into domain events),"
        " and both replays apply\n      them to an aggregate; the recorder returns the state as"
        " undecoded bytes"
    )


def read_all_ours(store: PostgresEventStore) -> int:
    """Page through every event from the start; return how many there were."""
    count, after = 0, 0
    while True:
        page = store.read_all(after, limit=PAGE)
        count += len(page)
        if len(page) < PAGE:
            return count
        after = page[-1].global_position


def _repeat_rotating(
    actions: Mapping[str, Callable[[], object]], repeats: int
) -> dict[str, list[float]]:
    """Run each action ``repeats`` times (+1 dropped warm-up), rotating who goes first."""
    names = list(actions)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for attempt in range(repeats + 1):
        shift = attempt % len(names)
        for name in names[shift:] + names[:shift]:
            took = timed(actions[name])
            if attempt:
                seconds[name].append(took)
    return seconds


def _rate_rows(
    measure: str,
    heading: str,
    count: int,
    samples: Mapping[str, list[float]],
    labels: Mapping[str, str],
) -> list[Row]:
    """Print each side's rate; the row against the application (held to >= 5) and the row
    against the recorder (shown, not held)."""
    rates = {name: per_second(count, median(samples[name])) for name in labels}
    print(f"      {heading}")
    for name, label in labels.items():
        print(f"        {label:<15} {rate_text(rates[name]):>14}   {spread_text(samples[name])}")
    ours, app, rec = rates["ours"], rates["app"], rates["es"]
    print(f"        ours/app {ours / app:.2f}   ours/recorder {ours / rec:.2f}")
    return [
        Row(
            f"{measure} vs es app (ev/s)",
            rate_text(ours),
            rate_text(app),
            ours / app,
            ">= 5.00",
            ours / app >= 5,
        ),
        Row(
            f"{measure} vs es {RECORDER_READS}",
            rate_text(ours),
            rate_text(rec),
            ours / rec,
            "-",
            None,
        ),
    ]


# --- 4. loading through a snapshot -----------------------------------------------------------


def bench_snapshots(store: PostgresEventStore) -> list[Row]:
    """Load a 10k and a 100k aggregate through a snapshot 50 events before the end."""
    progress(
        f"[4/4] snapshots: writing a {SMALL_AGGREGATE:,}- and a {LARGE_AGGREGATE:,}-event "
        f"aggregate, snapshot {SNAPSHOT_TAIL} events before the end"
    )
    small, small_total = _snapshotted(store, "snap-10k", SMALL_AGGREGATE)
    large, large_total = _snapshotted(store, "snap-100k", LARGE_AGGREGATE)
    progress(f"      loading, {LOAD_REPEATS} interleaved rounds (+1 warm-up)")
    plain = AggregateRepository(store, Meter)
    snapped = AggregateRepository(store, Meter, snapshot_every=SNAPSHOT_EVERY)
    loads: dict[str, list[float]] = {"plain 10k": [], "snapshot 10k": [], "snapshot 100k": []}
    for attempt in range(LOAD_REPEATS + 1):
        took = {
            "plain 10k": timed(_load_checked, plain, small, SMALL_AGGREGATE, small_total),
            "snapshot 10k": timed(_load_checked, snapped, small, SMALL_AGGREGATE, small_total),
            "snapshot 100k": timed(_load_checked, snapped, large, LARGE_AGGREGATE, large_total),
        }
        for name, seconds in took.items():
            if attempt:
                loads[name].append(seconds)
    return _snapshot_rows(loads)


def _snapshotted(store: PostgresEventStore, stream_id: str, size: int) -> tuple[str, int]:
    """Write ``size`` events to a stream with a snapshot SNAPSHOT_TAIL events before the end."""
    head = size - SNAPSHOT_TAIL
    for batch in stream_batches(stream_id, 0, head):
        store.append_batch(batch)
    plain = AggregateRepository(store, Meter)
    started = time.perf_counter()
    aggregate = plain.load(stream_id)
    took = time.perf_counter() - started
    plain.take_snapshot(aggregate)
    for batch in stream_batches(stream_id, head, SNAPSHOT_TAIL):
        store.append_batch(batch)
    print(
        f"      {stream_id}: {size:,} events, snapshot at version {aggregate.version:,} "
        f"(its full load of {head:,} events took {ms_text(took)})"
    )
    return stream_id, sum(range(size))


def _load_checked(repo: AggregateRepository[Meter], stream_id: str, size: int, total: int) -> None:
    aggregate = repo.load(stream_id)
    if (aggregate.version, aggregate.total) != (size, total):
        sys.exit(f"{stream_id} loaded wrong: version {aggregate.version}, total {aggregate.total}")


def _snapshot_rows(loads: Mapping[str, list[float]]) -> list[Row]:
    for name, samples in loads.items():
        print(f"      load {name:<14} {spread_text(samples)}")
    plain, small, large = (median(loads[name]) for name in loads)
    growth = large / small
    print(f"      load(100k)/load(10k) with snapshot {growth:.2f}")
    print(f"      10k: without snapshot / with snapshot {plain / small:.1f}x")
    return [
        Row(
            "snapshot load 100k vs 10k (time)",
            ms_text(large),
            ms_text(small),
            growth,
            "<= 1.50",
            growth <= 1.5,
        ),
        Row(
            "10k load: no snapshot vs snapshot",
            ms_text(plain),
            ms_text(small),
            plain / small,
            "-",
            None,
        ),
    ]


# --- the run ---------------------------------------------------------------------------------


def print_environment(base_url: str) -> None:
    """What the numbers were measured on."""
    print(f"PostgreSQL: {server_version(base_url)}")
    print(f"cores: {os.cpu_count()}   Python {platform.python_version()}   ", end="")
    print(f"psycopg {psycopg.__version__}   eventsourcing {package_version('eventsourcing')}")
    print(
        f"schemas: ours {SCHEMA} (dropped at the end), eventsourcing application "
        f"{ES_APP_SCHEMA} and recorder {ES_SCHEMA} (emptied)"
    )


def run_all(base_url: str, url: str, es: EsWriter, app: AppWriter) -> Findings:
    """The four phases; phases 3 and 4 start from empty stores."""
    out = Findings([], [])
    store = fresh_store(base_url)
    es.reset()
    app.reset()
    ceiling = EventsCopy(fresh_schema(base_url, COPY_SCHEMA))
    port = PostgresEventStore(fresh_schema(base_url, PORT_SCHEMA))
    try:
        with RawCopy(url) as raw:
            bench_batches(store, port, raw, ceiling, es, app, out)
        bench_singles(store, es, app, out)
    finally:
        store.close()
        ceiling.close()
        port.close()
        drop_schema(base_url, COPY_SCHEMA)
        drop_schema(base_url, PORT_SCHEMA)
    store = fresh_store(base_url)
    es.reset()
    app.reset()
    try:
        bench_reads(store, es, app, out)
        out.rows += bench_snapshots(store)
    finally:
        store.close()
    return out


def main() -> None:
    """Run every phase, clean up, print the summary."""
    base_url = database_url()
    url = with_search_path(base_url, SCHEMA)
    print_environment(base_url)
    started = time.perf_counter()
    es = EsWriter(EventsourcingReference(base_url, schema=ES_SCHEMA))
    try:
        app = AppWriter(EventsourcingApplicationReference(base_url, schema=ES_APP_SCHEMA))
        try:
            found = run_all(base_url, url, es, app)
        finally:
            progress(f"cleaning up: dropping {SCHEMA}, emptying {ES_APP_SCHEMA} and {ES_SCHEMA}")
            drop_schema(base_url, SCHEMA)
            app.reset()
            app.ref.close()
    finally:
        es.reset()
        es.ref.close()
    print_summary(found.rows)
    print_anchors(found.anchors)
    print(f"\nfull run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
