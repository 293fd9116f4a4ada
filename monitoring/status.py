"""`tuskflow status`: the system at once, read from PostgreSQL and the brokers themselves, so it
answers when Flower is not running and after any restart.

Each part is read by a function of its own and reported as plain data (``as_json``):
- processes: every worker, consumer and beat by its heartbeat row (role, host, pid, what it
  consumes or fires, how long since it last spoke), and the configured Dask scheduler's
  workers;
- queues: each Celery queue's messages waiting in Redis and those reserved by a worker (kombu's
  ``unacked`` hash, which a busy worker's prefetched message sits in), so a busy queue never
  reads empty;
- jobs: how many in each state, and the running ones with their partitions (the jobs
  projection, caught up first);
- consumers: each Kafka partition's stored next offset (PostgreSQL's, the authority) against
  its high watermark; each Redis stream group's pending entries and the entries after its last
  delivered one;
- schedules: each entry's last fire, next fire, fires and skips, pause (the fire ledger);
- store: head position, dead letters not replayed, each projection's lag, the last archive day.
"""

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import redis

from tuskflow.config.celery import ETL_QUEUE, MAINTENANCE_QUEUE
from tuskflow.config.database import Connection
from tuskflow.config.errors import TuskflowError
from tuskflow.eventstore.postgres.projection import ProjectionRunner
from tuskflow.jobs.projection import JobsProjection
from tuskflow.monitoring.heartbeat import INTERVAL_S as HEARTBEAT_INTERVAL_S

# kombu's Redis transport keeps a queue's priorities 3, 6 and 9 in lists named after it.
_PRIORITY_LISTS = ("", "\x06\x163", "\x06\x166", "\x06\x169")
# Entries counted after a Redis group's last delivered one, at most (Redis 6 has no lag field).
REDIS_LAG_CAP = 10_000
RUNNING_SHOWN = 20
# A process this long without a heartbeat (three missed) is shown as silent.
SILENT_AFTER_S = 3 * HEARTBEAT_INTERVAL_S


@dataclass(frozen=True)
class QueueDepth:
    """A Celery queue: messages waiting, and messages a worker holds unacknowledged."""

    queue: str
    ready: int
    reserved: int


@dataclass(frozen=True)
class KafkaLag:
    """One partition of a consumer group: stored next offset, high watermark, the gap."""

    group: str
    topic: str
    partition: int
    next_offset: int
    high_watermark: int | None
    lag: int | None


@dataclass(frozen=True)
class RedisGroupLag:
    """One consumer group of a Redis stream: entries delivered and not acknowledged, and the
    entries after its last delivered one (capped at REDIS_LAG_CAP)."""

    stream: str
    group: str
    consumers: int
    pending: int
    lag: int


@dataclass(frozen=True)
class Buckets:
    """A histogram as Prometheus has it: cumulative counts at each upper bound, then +Inf."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    count: int
    total: float


# Upper bounds, in seconds, of the job duration and queue wait histograms.
DURATION_BOUNDS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
WAIT_BOUNDS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


@dataclass(frozen=True)
class ProcessBeat:
    """A long-running process by its heartbeat: what it is, where, and how long it has been
    silent (more than SILENT_AFTER_S: most likely gone)."""

    role: str
    host: str
    pid: int
    detail: dict[str, Any]
    started_at: datetime
    heartbeat_age_s: float

    @property
    def silent(self) -> bool:
        """Whether it missed several heartbeats."""
        return self.heartbeat_age_s > SILENT_AFTER_S


@dataclass(frozen=True)
class DaskWorker:
    """A worker of the configured Dask scheduler."""

    address: str
    host: str
    threads: int
    memory_limit: int
    last_seen_s: float


@dataclass
class SystemStatus:
    """Everything `tuskflow status` shows."""

    taken_at: datetime
    processes: list[ProcessBeat] = field(default_factory=list)
    dask_workers: list[DaskWorker] = field(default_factory=list)
    queues: list[QueueDepth] = field(default_factory=list)
    jobs_by_state: dict[str, int] = field(default_factory=dict)
    running_jobs: list[dict[str, Any]] = field(default_factory=list)
    job_durations: Buckets | None = None  # started to finished, of every finished attempt
    queue_waits: Buckets | None = None  # submitted to started, of every started job
    kafka: list[KafkaLag] = field(default_factory=list)
    redis_streams: list[RedisGroupLag] = field(default_factory=list)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    store: dict[str, Any] = field(default_factory=dict)
    unreachable: list[str] = field(default_factory=list)  # parts that could not be read, why

    def as_json(self) -> str:
        """The status as one JSON object."""
        return json.dumps(asdict(self), default=_json_value)


def _json_value(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def processes(conn: Connection) -> list[ProcessBeat]:
    """Every process with a heartbeat row, by host and role."""
    rows = conn.execute(
        "SELECT role, host, pid, detail, started_at,"
        " extract(epoch FROM statement_timestamp() - beat_at)::float8"
        " FROM process_heartbeats ORDER BY host, role, pid"
    ).fetchall()
    return [ProcessBeat(*row) for row in rows]


def dask_workers(scheduler: str) -> list[DaskWorker]:
    """The workers the Dask scheduler knows, with how long since each last spoke to it."""
    from tuskflow.etl.cluster import connect as connect_dask  # noqa: PLC0415 - Dask is heavy

    with connect_dask(scheduler) as client:
        info = client.scheduler_info()
    now = datetime.now(UTC).timestamp()
    return [
        DaskWorker(
            address,
            str(worker.get("host", "")),
            int(worker.get("nthreads", 0)),
            int(worker.get("memory_limit", 0)),
            max(now - float(worker.get("last_seen", now)), 0.0),
        )
        for address, worker in sorted(info.get("workers", {}).items())
    ]


def queue_depths(client: redis.Redis, queues: tuple[str, ...]) -> list[QueueDepth]:
    """Each queue's waiting messages (every priority list) and reserved ones (unacked)."""
    reserved: Counter[str] = Counter()
    for raw in client.hvals("unacked"):
        try:
            _, exchange, routing_key = json.loads(raw)
        except (ValueError, TypeError):
            continue
        reserved[routing_key or exchange] += 1
    with client.pipeline() as pipe:
        for queue in queues:
            for suffix in _PRIORITY_LISTS:
                pipe.llen(f"{queue}{suffix}")
        lengths = pipe.execute()
    step = len(_PRIORITY_LISTS)
    return [
        QueueDepth(queue, sum(lengths[i * step : (i + 1) * step]), reserved[queue])
        for i, queue in enumerate(queues)
    ]


def jobs(conn: Connection, url: str) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Jobs by state, and the running ones (the longest running first)."""
    ProjectionRunner(url, JobsProjection()).catch_up()
    states = dict(
        conn.execute("SELECT status, count(*) FROM projection_jobs GROUP BY 1").fetchall()
    )
    rows = conn.execute(
        "SELECT job_id, name, attempt, worker, partitions_done, partitions_total, updated_at"
        " FROM projection_jobs WHERE status = 'running' ORDER BY submitted_at LIMIT %s",
        [RUNNING_SHOWN],
    ).fetchall()
    names = (
        "job_id",
        "name",
        "attempt",
        "worker",
        "partitions_done",
        "partitions_total",
        "updated_at",
    )
    return {str(k): int(v) for k, v in states.items()}, [
        dict(zip(names, row, strict=True)) for row in rows
    ]


def job_histograms(conn: Connection) -> tuple[Buckets, Buckets]:
    """Job durations (latest attempt, start to finish) and queue waits (submit to start), as
    cumulative buckets, counted in PostgreSQL."""
    durations = _buckets(
        conn,
        "extract(epoch FROM finished_at - started_at)",
        "finished_at IS NOT NULL AND started_at IS NOT NULL",
        DURATION_BOUNDS,
    )
    waits = _buckets(
        conn, "extract(epoch FROM started_at - submitted_at)", "started_at IS NOT NULL", WAIT_BOUNDS
    )
    return durations, waits


def _buckets(conn: Connection, value: str, present: str, bounds: tuple[float, ...]) -> Buckets:
    counts = ", ".join(f"count(*) FILTER (WHERE v <= {bound!r})" for bound in bounds)
    row = conn.execute(
        f"SELECT {counts}, count(*), coalesce(sum(v), 0)::float8"  # noqa: S608 - constants only
        f" FROM (SELECT {value} AS v FROM projection_jobs WHERE {present}) AS measured"
    ).fetchone()
    assert row is not None
    *cumulative, count, total = row
    return Buckets(bounds, tuple(int(c) for c in cumulative), int(count), float(total))


def kafka_lag(conn: Connection, bootstrap: str | None) -> list[KafkaLag]:
    """Each stored partition offset against the partition's high watermark (None without a
    broker to ask)."""
    stored = conn.execute(
        "SELECT consumer_group, topic, partition, next_offset FROM source_offsets"
        " ORDER BY consumer_group, topic, partition"
    ).fetchall()
    if not stored:
        return []
    highs = _high_watermarks(bootstrap, {(t, p) for _, t, p, _ in stored}) if bootstrap else {}
    lags = []
    for group, topic, partition, next_offset in stored:
        high = highs.get((topic, partition))
        lag = None if high is None else max(high - next_offset, 0)
        lags.append(KafkaLag(group, topic, partition, next_offset, high, lag))
    return lags


def _high_watermarks(
    bootstrap: str, partitions: set[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    from confluent_kafka import Consumer, TopicPartition  # noqa: PLC0415 - only with Kafka

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "tuskflow-status"})
    try:
        return {
            (topic, partition): consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=5
            )[1]
            for topic, partition in sorted(partitions)
        }
    finally:
        consumer.close()


def redis_stream_lag(client: redis.Redis) -> list[RedisGroupLag]:
    """Every consumer group of every stream in the Redis database."""
    groups = []
    for key in sorted(client.scan_iter(_type="stream")):
        stream = key.decode()
        for info in client.xinfo_groups(stream):
            last = info["last-delivered-id"]
            after = (
                client.xrange(stream, min=f"({last.decode()}", max="+", count=REDIS_LAG_CAP) or []
            )
            groups.append(
                RedisGroupLag(
                    stream,
                    info["name"].decode(),
                    int(info["consumers"]),
                    int(info["pending"]),
                    len(after),
                )
            )
    return groups


def store_health(conn: Connection) -> dict[str, Any]:
    """Head position, open dead letters, each checkpoint's lag, the last archived day."""
    head = conn.execute(
        "SELECT greatest(coalesce(max(global_position), 0),"
        " (SELECT coalesce(max(last_position), 0) FROM event_prunes)) FROM events"
    ).fetchone()
    letters = conn.execute("SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL").fetchone()
    head_position = int(head[0]) if head else 0
    checkpoints = {
        name: head_position - int(position)
        for name, position in conn.execute("SELECT name, position FROM checkpoints ORDER BY name")
    }
    archived = conn.execute(
        "SELECT day, verified_at FROM archive_days ORDER BY day DESC LIMIT 1"
    ).fetchone()
    return {
        "head_position": head_position,
        "dead_letters_open": int(letters[0]) if letters else 0,
        "checkpoint_lag": checkpoints,
        "last_archive_day": archived[0] if archived else None,
        "last_archive_day_verified": bool(archived and archived[1]),
    }


def schedules(url: str, schedule_file: Path | None, now: datetime) -> list[dict[str, Any]]:
    """Each entry of the schedule file with what the fire ledger holds of it."""
    if schedule_file is None:
        return []
    from tuskflow.eventstore.postgres.store import PostgresEventStore  # noqa: PLC0415
    from tuskflow.scheduler.fire_ledger import FireLedger  # noqa: PLC0415
    from tuskflow.scheduler.fire_times import next_fire  # noqa: PLC0415
    from tuskflow.scheduler.schedule_file import load_schedule  # noqa: PLC0415

    loaded = load_schedule(schedule_file, check_jobs=False)  # what fires when, not job specs
    with PostgresEventStore(url, pool_size=1, role="status") as store:
        ledger = FireLedger(store)
        ledger.catch_up()
        rows = []
        for entry in loaded.entries:
            fires = ledger.state(entry.id)
            last = fires.last_fire
            rows.append(
                {
                    "id": entry.id,
                    "fires": entry.target,
                    "last_fire": last.nominal if last else None,
                    "next_fire": next_fire(entry, now)
                    if entry.enabled and not fires.paused
                    else None,
                    "fired": fires.fired,
                    "skipped": fires.skipped,
                    "paused": fires.paused,
                }
            )
    return rows


def system_status(
    database_url: str,
    redis_url: str,
    kafka_bootstrap: str | None,
    schedule_file: Path | None,
    dask_scheduler: str | None = None,
) -> SystemStatus:
    """Read every part; a part whose service cannot be reached is named in ``unreachable``."""
    from tuskflow.config.database import connect  # noqa: PLC0415

    now = datetime.now(UTC)
    status = SystemStatus(now)
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=5)
    try:
        status.queues = queue_depths(client, (ETL_QUEUE, MAINTENANCE_QUEUE))
        status.redis_streams = redis_stream_lag(client)
    except redis.RedisError as exc:
        status.unreachable.append(f"Redis: {exc}")
    finally:
        client.close()
    with connect(database_url, "status") as conn:
        status.processes = processes(conn)
        status.jobs_by_state, status.running_jobs = jobs(conn, database_url)
        status.job_durations, status.queue_waits = job_histograms(conn)
        status.store = store_health(conn)
        try:
            status.kafka = kafka_lag(conn, kafka_bootstrap)
        except Exception as exc:  # confluent-kafka's errors: the broker away or refusing
            status.unreachable.append(f"Kafka at {kafka_bootstrap}: {exc}")
    status.schedules = schedules(database_url, schedule_file, now)
    if dask_scheduler is not None:
        try:
            status.dask_workers = dask_workers(dask_scheduler)
        except TuskflowError as exc:
            status.unreachable.append(f"Dask scheduler at {dask_scheduler}: {exc}")
    return status
