"""Beat fires the store's upkeep: a real `tuskflow beat` sends snapshot runs, archive exports
and verifies, and a projection's catch-up to a real Celery worker on the maintenance queue,
which runs them without a Dask cluster of its own."""

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import psycopg
import redis

from tests.e2e.etl_processes import stop_process
from tests.integration.archive.backdated import write_days
from tuskflow.archive.destination import Destination
from tuskflow.eventstore import NewEvent, PostgresEventStore
from tuskflow.eventstore.snapshotting import RUN_PREFIX
from tuskflow.jobs import job as lifecycle
from tuskflow.monitoring.status import system_status

TUSKFLOW = Path(sys.executable).with_name("tuskflow")
BROKER_DB = 8
PAST_DAY = date.today() - timedelta(days=3)


def _jobs(url: str, count: int, events: int) -> None:
    """Job streams of ``events`` events each: submitted, started, partitions completed."""
    with PostgresEventStore(url) as store:
        for n in range(count):
            job_id = f"m{n}"
            started = NewEvent(
                lifecycle.STARTED,
                {"attempt": 1, "worker": "w", "task_id": "t", "partitions": events},
            )
            partitions = [
                NewEvent(
                    lifecycle.PARTITION_COMPLETED,
                    {"attempt": 1, "index": i, "rows_in": 10, "rejected": 0},
                )
                for i in range(events - 2)
            ]
            submitted = lifecycle.submitted_event(job_id, "tiny", "{}", "test")
            store.append(lifecycle.stream_of(job_id), [submitted, started, *partitions])


def _wait(what: str, check: Callable[[], bool], logs: list[Path], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            tails = "\n".join(f"== {log}\n{log.read_text()[-3000:]}" for log in logs)
            raise AssertionError(f"{what} did not happen within {timeout_s} s\n{tails}")
        time.sleep(0.3)


def test_beat_fires_snapshot_runs_archive_exports_and_projection_catch_up_on_a_worker(
    migrated_url: str, redis_url: str, tmp_path: Path
) -> None:
    broker = urlsplit(redis_url)._replace(path=f"/{BROKER_DB}").geturl()
    redis.Redis.from_url(broker).flushdb()
    _jobs(migrated_url, count=3, events=120)
    write_days(migrated_url, {PAST_DAY: 50})
    archive = tmp_path / "archive"
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(
        "entries:\n"
        "  - {id: snapshots, every: 1s, snapshot: {category: job-}}\n"
        "  - {id: export, every: 2s, archive: export}\n"
        "  - {id: verify, every: 2s, archive: verify}\n"
        "  - {id: jobs-view, every: 1s, projection: jobs}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSKFLOW_")}
    env.update(
        TUSKFLOW_DATABASE_URL=migrated_url,
        TUSKFLOW_REDIS_URL=broker,
        TUSKFLOW_LOG_FORMAT="json",
        TUSKFLOW_ARCHIVE_URL=str(archive),
        TUSKFLOW_ARCHIVE_SETTLE_S="0",
    )
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    logs = [worker_log, beat_log]
    with worker_log.open("wb") as worker_out, beat_log.open("wb") as beat_out:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tuskflow.tasks",
                "worker",
                "-Q",
                "maintenance",
                "-c",
                "1",
                "-n",
                f"maintenance-{os.getpid()}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            env=env,
            stdout=worker_out,
            stderr=subprocess.STDOUT,
        )
        beat = subprocess.Popen(
            [str(TUSKFLOW), "beat", "--schedule", str(schedule)],
            env=env,
            stdout=beat_out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait("a snapshot of every job stream", lambda: _snapshots(migrated_url) == 3, logs)
            _wait(
                "an archive of the past day",
                lambda: Destination(str(archive)).manifest(PAST_DAY) is not None,
                logs,
            )
            _wait("the archived day verified", lambda: _verified(migrated_url, PAST_DAY), logs)
            _wait("the jobs projection caught up", lambda: _projected_jobs(migrated_url) == 3, logs)
            runs = _snapshot_runs(migrated_url)
            seen = system_status(migrated_url, broker, None, None).processes
            cluster = [
                p
                for p in psutil.Process(worker.pid).children(recursive=True)
                if "distributed" in " ".join(p.cmdline())
            ]
        finally:
            stop_process(beat)
            stop_process(worker)
    assert runs >= 1
    assert sorted((p.role, p.detail.get("queues")) for p in seen) == [
        ("beat", None),
        ("celery-worker", ["maintenance"]),
    ]  # both by their heartbeats, read by tuskflow status
    assert cluster == []  # a maintenance-only worker starts no Dask cluster


def _snapshots(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM snapshots WHERE stream_id LIKE 'job-%' AND stream_version = 120"
        ).fetchone()
    return int(row[0]) if row else 0


def _verified(url: str, day: date) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT verified_at FROM archive_days WHERE day = %s", [day]).fetchone()
    return bool(row and row[0])


def _projected_jobs(url: str) -> int:
    with psycopg.connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('projection_jobs')").fetchone()
        if not exists or exists[0] is None:
            return 0
        row = conn.execute("SELECT count(*) FROM projection_jobs").fetchone()
    return int(row[0]) if row else 0


def _snapshot_runs(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM events WHERE starts_with(stream_id, %s)"
            " AND event_type = 'SnapshotRunFinished'",
            [RUN_PREFIX],
        ).fetchone()
    return int(row[0]) if row else 0
