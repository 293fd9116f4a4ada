"""Benchmark: `tuskflow status` and the system metrics' scrape on 10,000 jobs, 100 streams'
consumers and 1,000 schedules.

    make up && eval "$(.venv/bin/tuskflow local env)" && .venv/bin/python bench/bench_status.py

The system is made first, in bulk (10 to 15 s on two cores):

- --jobs (10,000) jobs: 60 % succeeded (2 partitions, then JobPublishing and JobSucceeded),
  20 % failed (1 of 2 partitions), 10 % submitted, 10 % running (3 of 8 partitions done), their
  events as jobs/history.py writes them, appended by the store's batch port 2,000 at a time.
  3,000 of them are the jobs the schedules' fires submitted, the rest submitted by hand. The
  jobs projection is then caught up, timed and shown apart (the first status on a store that far
  behind pays it), and the tables analyzed;
- --entries (1,000) schedule entries in one file (cron in three time zones, or ``every``; each
  its own job spec on one tiny CSV; 1 % disabled), three fires each recorded by
  FireLedger.record_many at the entry's own last nominal times and marked sent, a skip for one
  entry in ten, one in fifty paused: 3,000 fires, 6,100 ledger events;
- 100 Redis streams of 50 entries, each with a consumer group that read 20 of them (20 pending,
  30 behind), and 30 and 5 messages in the etl and maintenance queues' lists;
- 4 Kafka topics of 25 partitions holding 10 messages each, and each partition's next offset
  (0 to 10) stored in source_offsets: 100 partitions whose lag needs their high watermarks;
- 4 process_heartbeats rows, one of them silent.

Then, each --runs (5) times, medians:

1. ``tuskflow status --json``, a whole process timed from spawn to exit, its JSON checked
   against what was made (jobs by state, 100 Redis groups, 100 Kafka partitions and their lag,
   1,000 schedules with their fires, skips and pauses, queues, heartbeats);
2. ``tuskflow status`` (the tables), a whole process, interleaved with 1; and ``tuskflow --help``
   beside them, the CLI's start alone, for scale;
3. ``system_status(...)`` in this process (after one warm-up call), then each function of
   monitoring/status.py timed alone, with the schedules' part split into loading the file
   (every entry's job spec checked), catching the fire ledger up, and the next fires;
4. ``tuskflow metrics serve`` started once: its first scrape (the lazy imports, the first
   connections) shown apart, then --runs GETs of /metrics, each timed from request to last byte.

Targets (the issue's): status under 1 s as a user times it, a scrape under 200 ms. With
--profile it prints too where the time goes: a status process's imports (``-X importtime``),
and cProfile's top functions of one system_status in this process and of one whole
``tuskflow status --json``. It prints medians and never asserts a time.

Everything lives in schema tf_status_bench, Redis database 15, topics bench-status-* (dropped,
flushed and deleted first and at the end) and a temporary folder. A full run takes about a
minute and a half, most of it the status processes themselves.
"""

import argparse
import cProfile
import http.client
import io
import json
import os
import pstats
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import psycopg
import redis
from _report import drop_schema, median, progress, with_search_path
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from prometheus_client.parser import text_string_to_metric_families
from psycopg.types.json import Jsonb

from tuskflow.config.celery import ETL_QUEUE, MAINTENANCE_QUEUE
from tuskflow.config.database import connect
from tuskflow.etl.spec import spec_json
from tuskflow.eventstore.postgres.migrate import migrate
from tuskflow.eventstore.postgres.projection import ProjectionRunner
from tuskflow.eventstore.postgres.store import PostgresEventStore
from tuskflow.eventstore.records import NewEvent, StreamEvent
from tuskflow.jobs import job as lifecycle
from tuskflow.jobs.projection import JobsProjection
from tuskflow.monitoring import status as parts
from tuskflow.scheduler.fire_ledger import FireLedger, JobToStart, Planned
from tuskflow.scheduler.fire_times import fire_times, next_fire
from tuskflow.scheduler.schedule_file import ScheduleEntry, load_schedule
from tuskflow.scheduler.submit import validate

SCHEMA = "tf_status_bench"
REDIS_DB = 15  # the bench's own database on the services' Redis, flushed first and at the end
TOPIC_PREFIX = "bench-status-"
ROOT = Path(__file__).resolve().parent.parent
TUSKFLOW = Path(sys.executable).with_name("tuskflow")

# Jobs: a cycle of ten, so any multiple of ten holds the shares exactly.
CYCLE = ("succeeded",) * 6 + ("failed",) * 2 + ("submitted", "running")
PARTITIONS = {"succeeded": 2, "failed": 2, "running": 8}
DONE = {"succeeded": 2, "failed": 1, "running": 3}
APPEND_BATCH = 2_000
RECORD_BATCH = 250  # fires a record_many: one fire of an entry per call
# Schedules.
FIRES = 3
ZONES = ("UTC", "Europe/Berlin", "America/New_York")
SKIP_EVERY, PAUSE_EVERY, DISABLE_EVERY = 10, 50, 100
# Consumers.
STREAMS, STREAM_ENTRIES, STREAM_READ = 100, 50, 20
TOPICS, TOPIC_PARTITIONS, MESSAGES = 4, 25, 10
QUEUED = {ETL_QUEUE: 30, MAINTENANCE_QUEUE: 5}
# Targets, seconds.
STATUS_TARGET_S = 1.0
SCRAPE_TARGET_S = 0.2
PROFILE_TOP = 30
IMPORTS_TOP = 12
SERVER_START_S = 120

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` ``size`` at a time."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- the system ---------------------------------------------------------------------------------


@dataclass
class System:
    """Where the system lives and what was made in it, to check each reading against."""

    url: str
    redis_url: str
    bootstrap: str
    schedule_file: Path
    topics: list[str] = field(default_factory=list)
    jobs_by_state: dict[str, int] = field(default_factory=dict)
    kafka_lag: dict[tuple[str, int], int] = field(default_factory=dict)
    entries: int = 0
    fires: int = 0
    skips: int = 0
    paused: int = 0
    no_next_fire: int = 0  # disabled or paused
    heartbeats: int = 0
    fill_s: dict[str, float] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """A process's environment: this system's services and schedule, nothing else of ours."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TUSKFLOW_")}
        env.update(
            TUSKFLOW_DATABASE_URL=self.url,
            TUSKFLOW_REDIS_URL=self.redis_url,
            TUSKFLOW_KAFKA_BOOTSTRAP=self.bootstrap,
            TUSKFLOW_SCHEDULE_FILE=str(self.schedule_file),
            TUSKFLOW_LOG_FORMAT="json",
        )
        return env


def fresh_store(base_url: str) -> str:
    """A migrated, empty store in SCHEMA."""
    drop_schema(base_url, SCHEMA)
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
    url = with_search_path(base_url, SCHEMA)
    migrate(url)
    return url


def own_redis(redis_url: str) -> str:
    """REDIS_DB on the services' Redis, flushed."""
    url = urlsplit(redis_url)._replace(path=f"/{REDIS_DB}").geturl()
    redis.Redis.from_url(url).flushdb()
    return url


def delete_topics(bootstrap: str, names: Sequence[str] | None = None) -> None:
    """``names``, or every topic left by an earlier run (TOPIC_PREFIX)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    if names is None:
        names = [t for t in admin.list_topics(timeout=30).topics if t.startswith(TOPIC_PREFIX)]
    if names:
        for future in admin.delete_topics(list(names), operation_timeout=30).values():
            future.result(timeout=60)


def timed(system: System, label: str, step: Callable[[], str]) -> None:
    """Run one fill step, with its time and what it says it made."""
    started = time.perf_counter()
    made = step()
    system.fill_s[label] = time.perf_counter() - started
    progress(f"      {label}: {made} in {system.fill_s[label]:.1f} s")


def write_schedule(folder: Path, entries: int) -> Path:
    """A schedule file of ``entries`` entries, each with a job spec of its own on one CSV."""
    (folder / "data.csv").write_text("a,b\n1,x\n2,y\n")
    (folder / "specs").mkdir()
    (folder / "out").mkdir()
    lines = ["entries:"]
    for i in range(entries):
        name = f"job-{i:04d}"
        (folder / "specs" / f"{name}.yaml").write_text(
            f"version: 1\nname: {name}\n"
            f"source: {{format: csv, path: {folder / 'data.csv'}}}\n"
            f"sink: {{kind: parquet, path: {folder / 'out' / name}}}\n"
        )
        rule = (
            f"cron: '{i % 60} */{1 + i % 6} * * *', timezone: {ZONES[i % len(ZONES)]}"
            if i % 2 == 0
            else f"every: {5 + i % 55}m"
        )
        enabled = ", enabled: false" if i % DISABLE_EVERY == DISABLE_EVERY - 1 else ""
        lines.append(f"  - {{id: entry-{i:04d}, {rule}, job: specs/{name}.yaml{enabled}}}")
    path = folder / "schedule.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def last_times(entry: ScheduleEntry, now: datetime, count: int) -> list[datetime]:
    """The entry's last ``count`` nominal times up to ``now``."""
    times = list(fire_times(entry, now - timedelta(days=2), now))
    if len(times) < count:
        sys.exit(f"{entry.id} has only {len(times)} nominal times in two days")
    return times[-count:]


def job_to_start(entry: ScheduleEntry) -> JobToStart:
    """The job an entry's fire starts, as beat makes it: the spec checked, as JSON text."""
    if entry.job is None:
        sys.exit(f"{entry.id} fires no job")
    checked = validate(entry.job)
    return JobToStart(checked.name, spec_json(checked))


def record_fires(system: System, store: PostgresEventStore, now: datetime) -> list[str]:
    """FIRES fires of every entry, sent, with some skips and pauses; the fires' job ids."""
    entries = load_schedule(system.schedule_file).entries
    jobs = {entry.id: job_to_start(entry) for entry in entries}
    times = {entry.id: last_times(entry, now, FIRES + 1) for entry in entries}
    ledger = FireLedger(store)
    job_ids: list[str] = []
    for k in range(FIRES):  # oldest first, one fire of each entry a call
        for part in chunks(entries, RECORD_BATCH):
            plans = [Planned(e.id, times[e.id][1 + k], "schedule", jobs[e.id]) for e in part]
            fires = ledger.record_many(plans)
            if fires is None or len(fires) != len(plans):
                sys.exit("the fire ledger refused the bench's fires: is the schema fresh?")
            ledger.sent(fires)
            job_ids += [fire.job_id for fire in fires]
    for i, entry in enumerate(entries):
        if i % SKIP_EVERY == 0:
            ledger.skipped(entry.id, times[entry.id][0], "schedule", "overlap: still running")
            system.skips += 1
        if i % PAUSE_EVERY == 1:
            ledger.pause(entry.id, "paused by the bench")
            system.paused += 1
        if not entry.enabled or i % PAUSE_EVERY == 1:
            system.no_next_fire += 1
    system.entries, system.fires = len(entries), len(job_ids)
    return job_ids


def job_events(job_id: str, state: str, n: int) -> list[NewEvent]:
    """What jobs/history.py records of a job in ``state`` after its JobSubmitted."""
    if state == "submitted":
        return []
    data = {"attempt": 1, "worker": f"worker-{n % 4}", "task_id": job_id}
    events = [
        NewEvent(
            lifecycle.STARTED,
            {**data, "partitions": PARTITIONS[state]},
            {},
            lifecycle.event_id(job_id, 1, "started"),
        )
    ]
    for index in range(DONE[state]):
        events.append(
            NewEvent(
                lifecycle.PARTITION_COMPLETED,
                {"attempt": 1, "index": index, "rows_in": 100, "rejected": index % 2},
                {},
                lifecycle.event_id(job_id, 1, "partition", index),
            )
        )
    finished = lifecycle.event_id(job_id, 1, "finished")
    if state == "succeeded":
        events.append(
            NewEvent(
                lifecycle.PUBLISHING,
                {"attempt": 1},
                {},
                lifecycle.event_id(job_id, 1, "publishing"),
            )
        )
        result = {"rows_in": 200, "rows_out": 200, "rejected": 1, "output": f"out/{job_id}"}
        events.append(NewEvent(lifecycle.SUCCEEDED, {"attempt": 1, **result}, {}, finished))
    elif state == "failed":
        error = {"attempt": 1, "error": "the source file is gone"}
        events.append(NewEvent(lifecycle.FAILED, error, {}, finished))
    return events


def write_jobs(system: System, store: PostgresEventStore, fired: list[str], total: int) -> int:
    """``total`` jobs: the fires' (submitted already) and new ones, in CYCLE's states; events."""
    spec = json.dumps({"version": 1, "name": "adhoc"})
    job_ids = fired + [uuid.uuid4().hex[:16] for _ in range(total - len(fired))]
    items: list[StreamEvent] = []
    for n, job_id in enumerate(job_ids):
        stream = lifecycle.stream_of(job_id)
        if n >= len(fired):
            submitted = lifecycle.submitted_event(job_id, f"adhoc-{n % 50}", spec, "bench")
            items.append(StreamEvent(stream, submitted))
        state = CYCLE[n % len(CYCLE)]
        items += [StreamEvent(stream, event) for event in job_events(job_id, state, n)]
    system.jobs_by_state = dict(Counter(CYCLE[n % len(CYCLE)] for n in range(len(job_ids))))
    for batch in chunks(items, APPEND_BATCH):
        result = store.append_batch(batch)
        if len(result.new) != len(batch):
            sys.exit(f"{len(batch) - len(result.new)} job events of a batch were not stored")
    return len(items)


def catch_up_jobs(url: str) -> str:
    """The jobs projection caught up, and the tables status reads analyzed."""
    applied = ProjectionRunner(url, JobsProjection()).catch_up()
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("events", "streams", "projection_jobs", "checkpoints", "source_offsets"):
            conn.execute(f"VACUUM ANALYZE {table}")
    return f"{applied:,} events applied"


def fill_redis(system: System) -> str:
    """STREAMS streams, each with a group that read STREAM_READ entries; the queues' lists."""
    client = redis.Redis.from_url(system.redis_url)
    with client.pipeline(transaction=False) as pipe:
        for s in range(STREAMS):
            stream = f"meters-{s:03d}"
            for n in range(STREAM_ENTRIES):
                pipe.xadd(stream, {"data": json.dumps({"type": "Measured", "value": n})})
            pipe.xgroup_create(stream, "ingest", id="0")
            pipe.xreadgroup("ingest", f"consumer-{s % 3}", {stream: ">"}, count=STREAM_READ)
        for queue, count in QUEUED.items():
            pipe.lpush(queue, *([b"{}"] * count))
        pipe.execute()
    client.close()
    return f"{STREAMS} streams, {STREAMS * STREAM_ENTRIES:,} entries"


def fill_kafka(system: System) -> str:
    """TOPICS topics of TOPIC_PARTITIONS partitions, MESSAGES each; every next offset stored."""
    admin = AdminClient({"bootstrap.servers": system.bootstrap})
    run = uuid.uuid4().hex[:8]
    system.topics = [f"{TOPIC_PREFIX}{run}-{t}" for t in range(TOPICS)]
    new = [
        NewTopic(t, num_partitions=TOPIC_PARTITIONS, replication_factor=1) for t in system.topics
    ]
    for future in admin.create_topics(new).values():
        future.result(timeout=30)
    producer = Producer({"bootstrap.servers": system.bootstrap, "linger.ms": 20})
    rows = []
    for t, topic in enumerate(system.topics):
        for partition in range(TOPIC_PARTITIONS):
            for _ in range(MESSAGES):
                producer.produce(topic, value=b"{}", partition=partition)
            next_offset = (t * TOPIC_PARTITIONS + partition) % (MESSAGES + 1)
            rows.append((f"ingest-{t}", topic, partition, next_offset))
            system.kafka_lag[(topic, partition)] = MESSAGES - next_offset
    if producer.flush(60) != 0:
        sys.exit("could not produce the bench's Kafka messages")
    with psycopg.connect(system.url, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO source_offsets (consumer_group, topic, partition, next_offset)"
            " VALUES (%s, %s, %s, %s)",
            rows,
        )
    return f"{TOPICS} topics, {len(rows)} partitions' offsets stored"


def fill_heartbeats(system: System) -> str:
    """A worker of each queue, a consumer, and a beat silent for a minute."""
    beats = [
        ("celery-worker", {"node": "etl@bench", "queues": [ETL_QUEUE]}, 0),
        ("celery-worker", {"node": "maintenance@bench", "queues": [MAINTENANCE_QUEUE]}, 0),
        ("kafka-consumer", {"topics": system.topics, "group": "ingest-0"}, 0),
        ("beat", {"schedule": str(system.schedule_file), "entries": system.entries}, 60),
    ]
    with psycopg.connect(system.url, autocommit=True) as conn:
        for pid, (role, detail, silent_s) in enumerate(beats, start=1000):
            conn.execute(
                "INSERT INTO process_heartbeats (process, role, host, pid, detail, beat_at)"
                " VALUES (%s, %s, 'bench', %s, %s,"
                " statement_timestamp() - make_interval(secs => %s))",
                [f"bench:{pid}:{role}", role, pid, Jsonb(detail), silent_s],
            )
    system.heartbeats = len(beats)
    return f"{len(beats)} rows"


def fill(system: System, jobs: int, entries: int, folder: Path) -> None:
    """Everything the status reads, each step timed."""
    now = datetime.now(UTC)
    with PostgresEventStore(system.url, role="bench") as store:
        fired: list[str] = []

        def schedules() -> str:
            fired.extend(record_fires(system, store, now))
            return f"{system.entries:,} entries, {system.fires:,} fires"

        timed(system, "schedule file", lambda: f"{write_schedule(folder, entries)}")
        timed(system, "fires", schedules)
        timed(system, "jobs", lambda: f"{write_jobs(system, store, fired, jobs):,} job events")
    timed(system, "jobs projection catch-up", lambda: catch_up_jobs(system.url))
    timed(system, "redis", lambda: fill_redis(system))
    timed(system, "kafka", lambda: fill_kafka(system))
    timed(system, "heartbeats", lambda: fill_heartbeats(system))


# --- checking a reading ---------------------------------------------------------------------------


def problems_of(system: System, reading: Mapping[str, Any]) -> list[str]:
    """What in a status's JSON differs from what was made."""
    found = []
    if reading["jobs_by_state"] != system.jobs_by_state:
        found.append(f"jobs {reading['jobs_by_state']} != {system.jobs_by_state}")
    groups = [(g["pending"], g["lag"]) for g in reading["redis_streams"]]
    if groups != [(STREAM_READ, STREAM_ENTRIES - STREAM_READ)] * STREAMS:
        found.append(f"redis groups: {len(groups)}, first {groups[:3]}")
    lags = {(k["topic"], k["partition"]): k["lag"] for k in reading["kafka"]}
    if lags != system.kafka_lag:
        found.append(f"kafka: {len(lags)} partitions, {sum(v is None for v in lags.values())} None")
    rows = reading["schedules"]
    counts = (
        len(rows),
        sum(r["fired"] for r in rows),
        sum(r["skipped"] for r in rows),
        sum(r["paused"] is not None for r in rows),
        sum(r["next_fire"] is None for r in rows),
    )
    made = (system.entries, system.fires, system.skips, system.paused, system.no_next_fire)
    if counts != made:
        found.append(f"schedules (entries, fires, skips, paused, no next fire) {counts} != {made}")
    queues = {q["queue"]: q["ready"] for q in reading["queues"]}
    if queues != QUEUED:
        found.append(f"queues {queues} != {QUEUED}")
    if len(reading["processes"]) != system.heartbeats:
        found.append(f"{len(reading['processes'])} processes, not {system.heartbeats}")
    if reading["unreachable"]:
        found.append(f"unreachable: {reading['unreachable']}")
    return found


def check(system: System, label: str, reading: Mapping[str, Any]) -> None:
    """SystemExit when the reading is not the system made."""
    found = problems_of(system, reading)
    if found:
        sys.exit(f"{label} did not read the system made:\n  " + "\n  ".join(found))


# --- whole processes -----------------------------------------------------------------------------


def run_process(argv: Sequence[str], env: Mapping[str, str], label: str) -> tuple[float, str]:
    """``argv`` timed from spawn to exit; its stdout. SystemExit with its stderr if it fails."""
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = "\n".join(done.stderr.decode(errors="replace").splitlines()[-20:])
        sys.exit(f"{label} failed ({done.returncode}):\n{tail}")
    return wall, done.stdout.decode(errors="replace")


def measure_processes(system: System, runs: int) -> dict[str, list[float]]:
    """``tuskflow status --json``, ``tuskflow status`` and ``tuskflow --help``, interleaved."""
    walls: dict[str, list[float]] = {"json": [], "table": [], "help": []}
    env = system.env
    for round_ in range(1, runs + 1):
        wall, out = run_process([str(TUSKFLOW), "status", "--json"], env, "status --json")
        check(system, "tuskflow status --json", json.loads(out))
        walls["json"].append(wall)
        wall, out = run_process([str(TUSKFLOW), "status"], env, "status")
        shown = sum(line.lstrip("│ ").startswith("entry-") for line in out.splitlines())
        if shown != system.entries:
            sys.exit(f"tuskflow status showed {shown} schedule rows, not {system.entries}")
        walls["table"].append(wall)
        walls["help"].append(run_process([str(TUSKFLOW), "--help"], env, "--help")[0])
        progress(
            f"      round {round_}: status --json {walls['json'][-1]:.3f} s,"
            f" status {walls['table'][-1]:.3f} s, --help {walls['help'][-1]:.3f} s"
            + (f" ({len(out.splitlines()):,} lines)" if round_ == 1 else "")
        )
    return walls


# --- in this process -----------------------------------------------------------------------------


def status_call(system: System) -> parts.SystemStatus:
    """system_status as the CLI calls it, without a Dask scheduler."""
    return parts.system_status(system.url, system.redis_url, system.bootstrap, system.schedule_file)


def schedule_parts(system: System, now: datetime, times: dict[str, float]) -> None:
    """The schedules' part in its steps: the file, the ledger's catch-up, the next fires."""
    began = time.perf_counter()
    loaded = load_schedule(system.schedule_file)
    times["  schedules: load_schedule (specs checked)"] = time.perf_counter() - began
    with PostgresEventStore(system.url, pool_size=1, role="status") as store:
        began = time.perf_counter()
        ledger = FireLedger(store)
        ledger.catch_up()
        times["  schedules: FireLedger.catch_up"] = time.perf_counter() - began
        began = time.perf_counter()
        for entry in loaded.entries:
            if entry.enabled and not ledger.state(entry.id).paused:
                next_fire(entry, now)
        times["  schedules: next_fire of each entry"] = time.perf_counter() - began


def one_breakdown(system: System) -> dict[str, float]:
    """Each function of monitoring/status.py timed alone, once, on connections of its own."""
    times: dict[str, float] = {}

    def clock(name: str, call: Callable[[], object]) -> None:
        began = time.perf_counter()
        call()
        times[name] = time.perf_counter() - began

    now = datetime.now(UTC)
    client = redis.Redis.from_url(system.redis_url, socket_connect_timeout=3, socket_timeout=5)
    clock("queue_depths", lambda: parts.queue_depths(client, (ETL_QUEUE, MAINTENANCE_QUEUE)))
    clock("redis_stream_lag", lambda: parts.redis_stream_lag(client))
    client.close()
    began = time.perf_counter()
    with connect(system.url, "status") as conn:
        times["connect (PostgreSQL)"] = time.perf_counter() - began
        clock("processes", lambda: parts.processes(conn))
        clock("jobs (projection catch-up + counts)", lambda: parts.jobs(conn, system.url))
        clock("store_health", lambda: parts.store_health(conn))
        clock("kafka_lag", lambda: parts.kafka_lag(conn, system.bootstrap))
        stored = {(t, p) for t, p in system.kafka_lag}
        clock("  kafka_lag: high watermarks", lambda: watermarks(system.bootstrap, stored))
    clock("schedules", lambda: parts.schedules(system.url, system.schedule_file, now))
    schedule_parts(system, now, times)
    return times


def watermarks(bootstrap: str, partitions: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """kafka_lag's broker side alone."""
    return parts._high_watermarks(bootstrap, partitions)


def measure_in_process(system: System, runs: int) -> tuple[list[float], dict[str, list[float]]]:
    """system_status ``runs`` times after a warm-up, then each part ``runs`` times."""
    warm = time.perf_counter()
    check(system, "system_status", json.loads(status_call(system).as_json()))
    progress(f"      warm-up system_status: {time.perf_counter() - warm:.3f} s")
    walls = []
    for _ in range(runs):
        began = time.perf_counter()
        status_call(system)
        walls.append(time.perf_counter() - began)
    progress("      system_status: " + ", ".join(f"{wall:.3f}" for wall in walls) + " s")
    breakdown: dict[str, list[float]] = {}
    for _ in range(runs):
        for name, seconds in one_breakdown(system).items():
            breakdown.setdefault(name, []).append(seconds)
    return walls, breakdown


def profile(system: System) -> str:
    """cProfile's top functions of one system_status, by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    status_call(system)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(PROFILE_TOP)
    return out.getvalue()


def process_profile(system: System, folder: Path) -> str:
    """cProfile's top functions of a whole ``tuskflow status --json`` process."""
    stats = folder / "status.prof"
    argv = [sys.executable, "-m", "cProfile", "-o", str(stats), str(TUSKFLOW), "status", "--json"]
    run_process(argv, system.env, "tuskflow status --json under cProfile")
    out = io.StringIO()
    pstats.Stats(str(stats), stream=out).sort_stats("cumulative").print_stats(PROFILE_TOP)
    return out.getvalue()


def import_times(system: System) -> str:
    """What a whole ``tuskflow status --json`` process spends importing (``-X importtime``):
    the total of its top-level imports, and the largest of them."""
    argv = [sys.executable, "-X", "importtime", str(TUSKFLOW), "status", "--json"]
    done = subprocess.run(argv, cwd=ROOT, env=system.env, capture_output=True, check=False)
    top: list[tuple[int, str]] = []
    for line in done.stderr.decode(errors="replace").splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3 and fields[1].strip().isdigit() and fields[2].startswith(" "):
            name = fields[2][1:]
            if not name.startswith(" "):  # a top-level import: the others are inside it
                top.append((int(fields[1]), name))
    top.sort(reverse=True)
    total = sum(us for us, _ in top) / 1000
    largest = "\n".join(f"  {us / 1000:8.1f} ms  {name}" for us, name in top[:IMPORTS_TOP])
    return f"imports of one tuskflow status --json: {total:,.0f} ms in all; the largest:\n{largest}"


# --- the metrics endpoint -------------------------------------------------------------------------


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> tuple[float, str]:
    """One GET of /metrics, timed from request to the last byte; the text."""
    began = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    return time.perf_counter() - began, text


def samples_of(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def check_scrape(system: System, text: str) -> float:
    """SystemExit when the scrape does not carry the system made; its own read seconds."""
    samples = samples_of(text)
    jobs = {state: samples.get(("tuskflow_jobs", (("state", state),))) for state in CYCLE}
    kafka = sum(1 for name, _ in samples if name == "tuskflow_consumer_kafka_lag")
    redis_groups = sum(1 for name, _ in samples if name == "tuskflow_consumer_redis_lag")
    fires = sum(v for (name, _), v in samples.items() if name == "tuskflow_schedule_fires_total")
    if (
        jobs != system.jobs_by_state
        or kafka != len(system.kafka_lag)
        or redis_groups != STREAMS
        or fires != system.fires
    ):
        sys.exit(
            f"the scrape is not the system made: jobs {jobs}, kafka {kafka},"
            f" redis {redis_groups}, fires {fires}"
        )
    return samples[("tuskflow_status_read_seconds", ())]


@dataclass
class Scrapes:
    """The metrics server's start, its first scrape, and the timed ones with their read time."""

    start_s: float
    first_s: float
    walls: list[float]
    reads: list[float]


def wait_for_metrics(server: subprocess.Popen[bytes], port: int, log: Path) -> tuple[float, str]:
    """The first scrape that answers, timed alone."""
    deadline = time.monotonic() + SERVER_START_S
    while True:
        try:
            return scrape(port)
        except OSError:
            if server.poll() is not None:
                sys.exit(f"tuskflow metrics serve stopped:\n{log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                sys.exit(f"no metrics within {SERVER_START_S} s")
            time.sleep(0.05)


def measure_scrapes(system: System, runs: int, folder: Path) -> Scrapes:
    """``tuskflow metrics serve`` once: the first scrape apart, then ``runs`` timed scrapes."""
    port = free_port()
    log = folder / "metrics.log"
    argv = [str(TUSKFLOW), "metrics", "serve", "--port", str(port)]
    with log.open("wb") as out:
        spawned = time.perf_counter()
        server = subprocess.Popen(argv, cwd=ROOT, env=system.env, stdout=out, stderr=out)
        try:
            first_s, text = wait_for_metrics(server, port, log)
            start_s = time.perf_counter() - spawned - first_s
            check_scrape(system, text)
            walls, reads = [], []
            for _ in range(runs):
                wall, text = scrape(port)
                walls.append(wall)
                reads.append(check_scrape(system, text))
        finally:
            stop(server)
    progress(
        f"      up {start_s:.2f} s after spawn; first scrape {first_s:.3f} s; scrapes "
        + ", ".join(f"{wall:.3f}" for wall in walls)
        + " s; the collector's read "
        + ", ".join(f"{read:.3f}" for read in reads)
        + " s"
    )
    return Scrapes(start_s, first_s, walls, reads)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT (the command's own stop), then SIGKILL after 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the table -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One line of the table: a measure's median, its spread, and its target if it has one."""

    measure: str
    samples: Sequence[float]
    target_s: float | None = None

    def cells(self) -> tuple[str, str, str, str, str]:
        value = median(self.samples)
        spread = f"{min(self.samples) * 1000:,.0f}-{max(self.samples) * 1000:,.0f} ms"
        if self.target_s is None:
            return (self.measure, f"{value * 1000:,.1f} ms", spread, "-", "n/a")
        met = "yes" if value < self.target_s else "no"
        return (
            self.measure,
            f"{value * 1000:,.1f} ms",
            spread,
            f"< {self.target_s * 1000:,.0f} ms",
            met,
        )


def print_table(title: str, lines: Sequence[Line]) -> None:
    """The lines as a table: measure, median, min-max, target, met."""
    headers = ("measure", "median", "min-max", "target", "met")
    cells = [line.cells() for line in lines]
    widths = [max(len(row[i]) for row in [headers, *cells]) for i in range(len(headers))]
    print()
    print(title)
    for row in [headers, tuple("-" * width for width in widths), *cells]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def summary(
    walls: Mapping[str, list[float]],
    in_process: list[float],
    scrapes: Scrapes,
) -> list[Line]:
    """The measures with their targets, then the ones shown for scale."""
    return [
        Line("tuskflow status --json (whole process)", walls["json"], STATUS_TARGET_S),
        Line("tuskflow status, tables (whole process)", walls["table"], STATUS_TARGET_S),
        Line("metrics scrape, GET /metrics", scrapes.walls, SCRAPE_TARGET_S),
        Line("  the collector's read (tuskflow_status_read_seconds)", scrapes.reads),
        Line("  first scrape after start (warm-up, not in the median)", [scrapes.first_s]),
        Line("system_status(...) in process", in_process),
        Line("tuskflow --help (the CLI's start alone)", walls["help"]),
    ]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="a multiple of 10")
    parser.add_argument("--entries", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile one system_status")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.jobs % len(CYCLE) or args.jobs < args.entries * FIRES:
        sys.exit(f"--jobs must be a multiple of {len(CYCLE)} and at least {FIRES} x --entries")
    base_url, bootstrap = (
        os.environ["TUSKFLOW_DATABASE_URL"],
        os.environ["TUSKFLOW_KAFKA_BOOTSTRAP"],
    )
    started = time.perf_counter()
    delete_topics(bootstrap)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-status-") as name:
            folder = Path(name)
            system = System(
                fresh_store(base_url),
                own_redis(os.environ["TUSKFLOW_REDIS_URL"]),
                bootstrap,
                folder / "schedule.yaml",
            )
            progress(f"[1/4] filling {SCHEMA}, Redis database {REDIS_DB} and Kafka")
            fill(system, args.jobs, args.entries, folder)
            fill_s = sum(system.fill_s.values())
            progress(f"      filled in {fill_s:.0f} s")
            progress(f"[2/4] tuskflow status, whole processes, {args.runs} rounds")
            walls = measure_processes(system, args.runs)
            progress(f"[3/4] system_status and its parts in this process, {args.runs} times")
            in_process, breakdown = measure_in_process(system, args.runs)
            profiled = ""
            if args.profile:
                profiled = "\n\n".join(
                    (
                        import_times(system),
                        "cProfile of one system_status in this process, by cumulative time\n"
                        + profile(system),
                        "cProfile of one whole tuskflow status --json, by cumulative time\n"
                        + process_profile(system, folder),
                    )
                )
            progress(f"[4/4] tuskflow metrics serve, {args.runs} scrapes")
            scrapes = measure_scrapes(system, args.runs, folder)
    finally:
        drop_schema(base_url, SCHEMA)
        own_redis(os.environ["TUSKFLOW_REDIS_URL"])
        delete_topics(bootstrap)
    print_report(system, walls, in_process, breakdown, scrapes)
    if profiled:
        print(f"\n{profiled}")
    print(f"\nwhole run {time.perf_counter() - started:.0f} s (filling {fill_s:.0f} s)")


def print_report(
    system: System,
    walls: Mapping[str, list[float]],
    in_process: list[float],
    breakdown: Mapping[str, list[float]],
    scrapes: Scrapes,
) -> None:
    """The summary, the parts of system_status, and the fill's steps."""
    jobs = ", ".join(f"{state} {count:,}" for state, count in sorted(system.jobs_by_state.items()))
    print(
        f"\nthe system: jobs {jobs}; {STREAMS} Redis stream groups; {len(system.kafka_lag)} Kafka"
        f" partitions in {TOPICS} topics; {system.entries:,} schedule entries, {system.fires:,}"
        f" fires, {system.skips} skips, {system.paused} paused; {system.heartbeats} heartbeats"
    )
    print_table("summary", summary(walls, in_process, scrapes))
    print_table(
        "system_status's parts, each timed alone (median of the runs)",
        [Line(name, samples) for name, samples in breakdown.items()],
    )
    print("\nfill: " + ", ".join(f"{label} {s:.1f} s" for label, s in system.fill_s.items()))


if __name__ == "__main__":
    main()
