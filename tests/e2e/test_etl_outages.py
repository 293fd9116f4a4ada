"""ETL jobs ride through outages: PostgreSQL or Redis restarted while a job runs.

A real Celery worker (with its own local Dask cluster) runs a job that loads a CSV into a table;
`tuskflow submit --wait` follows it from its own process. The service is restarted in place once
the job has done its first partition. The job must end succeeded exactly once, with no JobFailed
recorded, each row once in its table, and the waiting command must ride through and show the end.
A database that stays away longer than the task's retries ends the job failed, saying why.
"""

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tests.e2e.etl_processes import (
    celery_worker,
    etl_env,
    job_events,
    order_ids_stored,
    private_redis_db,
    sales_to_table_job,
    wait_for,
)
from tuskflow.eventstore.postgres.store import PostgresEventStore
from tuskflow.jobs.job import stream_of

TUSKFLOW = Path(os.environ.get("VIRTUAL_ENV", ".venv")) / "bin" / "tuskflow"
REDIS_DB = 1 + (os.getpid() + 7) % 15
ROWS = 800_000
CLI_TIMEOUT_S = 240


@pytest.fixture
def redis_db(redis_url: str) -> str:
    """A Redis database of the test's own, emptied."""
    return private_redis_db(redis_url, REDIS_DB)


@contextmanager
def submit_and_wait(env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    """`tuskflow submit spec.yaml --wait` running in its own process."""
    waiter = subprocess.Popen(
        [str(TUSKFLOW.resolve()), "submit", "spec.yaml", "--wait"],
        env={**env, "COLUMNS": "200"},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield waiter
    finally:
        if waiter.poll() is None:
            waiter.kill()
        waiter.wait()


def submitted_job(url: str, timeout_s: float = 60) -> str:
    """The id of the one job submitted into the test's fresh store."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT stream_id FROM events WHERE event_type = 'JobSubmitted'"
            ).fetchone()
        if row is not None:
            return str(row[0]).removeprefix("job-")
        time.sleep(0.1)
    raise AssertionError("no job was submitted")


def finished_at(url: str, job_id: str, event_type: str) -> datetime:
    """When the job's event of this type was recorded."""
    with PostgresEventStore(url, pool_size=1) as store:
        times = [
            e.recorded_at
            for e in store.read_stream(stream_of(job_id))
            if e.event_type == event_type
        ]
    assert len(times) == 1, f"{event_type} recorded {len(times)} times"
    return times[0]


def ride_through(
    service: str,
    restart: Callable[..., None],
    url: str,
    redis_db: str,
    tmp_path: Path,
    down_s: float,
    retries: int = 3,
) -> tuple[str, subprocess.CompletedProcess[str], datetime]:
    """Run the job, restart ``service`` after its first partition; the job id, the waiting
    command's output and exit code, and when the service went down."""
    sales_to_table_job(tmp_path, ROWS)
    env = etl_env(url, redis_db, tmp_path / "state", dask=None)
    env["TUSKFLOW_JOB_RETRIES"] = str(retries)
    with celery_worker(env, tmp_path / "worker.log"), submit_and_wait(env, tmp_path) as waiter:
        job_id = submitted_job(url)
        wait_for(url, job_id, "PartitionCompleted")
        down_at = datetime.now(UTC)
        restart(service, down_s)
        output, _ = waiter.communicate(timeout=CLI_TIMEOUT_S)
    print(f"--- tuskflow submit --wait, {service} restarted mid-job:\n{output}")
    return job_id, subprocess.CompletedProcess(waiter.args, waiter.returncode, output), down_at


def assert_succeeded_once_with_each_row_once(url: str, job_id: str, down_at: datetime) -> None:
    """The job's history ends succeeded once, with no failure, after the outage began."""
    events = job_events(url, job_id)
    kinds = [kind for kind, _ in events]
    print("--- history:", kinds)
    assert kinds.count("JobSucceeded") == 1
    assert "JobFailed" not in kinds
    assert finished_at(url, job_id, "JobSucceeded") > down_at, "the job ended before the outage"
    assert order_ids_stored(url) == (ROWS, ROWS, 1, ROWS)


def test_postgres_restarted_mid_job_the_job_succeeds_once_and_submit_wait_rides_through(
    migrated_url: str, redis_db: str, restart_service: Callable[..., None], tmp_path: Path
) -> None:
    job_id, waited, down_at = ride_through(
        "postgres", restart_service, migrated_url, redis_db, tmp_path, down_s=2.0
    )

    assert waited.returncode == 0, waited.stdout
    assert "waiting for the database" in waited.stdout
    assert "succeeded" in waited.stdout.splitlines()[-3]
    assert_succeeded_once_with_each_row_once(migrated_url, job_id, down_at)
    starts = [
        data["attempt"] for kind, data in job_events(migrated_url, job_id) if kind == "JobStarted"
    ]
    assert len(starts) >= 2, "the attempt the outage broke was retried as a new attempt"


def test_redis_restarted_mid_job_the_job_succeeds_once_and_submit_wait_shows_the_end(
    migrated_url: str, redis_db: str, restart_service: Callable[..., None], tmp_path: Path
) -> None:
    job_id, waited, down_at = ride_through(
        "redis", restart_service, migrated_url, redis_db, tmp_path, down_s=2.0
    )

    assert waited.returncode == 0, waited.stdout
    assert_succeeded_once_with_each_row_once(migrated_url, job_id, down_at)


def test_database_away_longer_than_the_retries_ends_the_job_failed_saying_it_was_unreachable(
    migrated_url: str, redis_db: str, restart_service: Callable[..., None], tmp_path: Path
) -> None:
    # One retry, 2 s after the first attempt, each waiting up to 5 s for a connection: the
    # database is away for longer than all of that.
    job_id, waited, _ = ride_through(
        "postgres", restart_service, migrated_url, redis_db, tmp_path, down_s=25.0, retries=1
    )

    assert waited.returncode == 1, waited.stdout
    events = job_events(migrated_url, job_id)
    failures = [data for kind, data in events if kind == "JobFailed"]
    assert len(failures) == 1, events
    assert "unreachable" in str(failures[0]["error"])
    assert "JobSucceeded" not in [kind for kind, _ in events]
    assert "unreachable" in waited.stdout
