"""Real processes for the ETL end-to-end tests: a Celery worker and a producer script."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import psycopg
import redis
import yaml

from tuskflow.deploy.local.worker import worker_argv
from tuskflow.eventstore.postgres.store import PostgresEventStore
from tuskflow.jobs.job import stream_of

READY_TIMEOUT_S = 60
JOB_TIMEOUT_S = 180
STOP_TIMEOUT_S = 30


def etl_env(database_url: str, redis_url: str, state_dir: Path, dask: str | None) -> dict[str, str]:
    """The environment of a worker or producer pointed at the test's services."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSKFLOW_")}
    env.update(
        TUSKFLOW_DATABASE_URL=database_url,
        TUSKFLOW_REDIS_URL=redis_url,
        TUSKFLOW_STATE_DIR=str(state_dir),
        TUSKFLOW_LOG_FORMAT="json",
    )
    if dask is not None:
        env["TUSKFLOW_DASK_SCHEDULER"] = dask
    return env


def private_redis_db(redis_url: str, db: int) -> str:
    """``redis_url`` on database ``db``, emptied: no message of an earlier run is delivered."""
    url = f"{redis_url.rsplit('/', 1)[0]}/{db}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@contextmanager
def celery_worker(
    env: dict[str, str], log_path: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`celery -A tuskflow.tasks worker -Q etl -c 1` (in ``cwd``), ready; SIGTERMed after."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            worker_argv(f"etl-test-{os.getpid()}@%h"),
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(process, log_path)
            yield process
        finally:
            stop_process(process)


def pool_child(worker: subprocess.Popen[bytes]) -> psutil.Process:
    """The prefork pool process that runs the worker's tasks."""
    children = [
        child
        for child in psutil.Process(worker.pid).children()
        if "celery" in " ".join(child.cmdline())
    ]
    if len(children) != 1:
        raise AssertionError(f"expected one pool process, found {children}")
    return children[0]


def kill_whole(worker: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker's main process and every process under it at once, as a lost host."""
    main = psutil.Process(worker.pid)
    for process in [main, *main.children(recursive=True)]:
        process.kill()
    worker.wait(timeout=10)


def run_producer(env: dict[str, str], code: str, cwd: Path) -> str:
    """Run a producer script (Python source) in its own process; its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"producer failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def _wait_ready(process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the worker exited at start:\n{log_path.read_text()[-3000:]}")
        if b"ready." in log_path.read_bytes():
            return
        time.sleep(0.2)
    raise AssertionError(
        f"the worker was not ready in {READY_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}"
    )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT_S: a process of a test stopped either way."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def write_sales(path: Path, rows: int, bad_rows: list[int]) -> pd.DataFrame:
    """A sales CSV of ``rows`` records; the records at ``bad_rows`` hold an unparseable amount."""
    rng = np.random.default_rng(11)
    frame = pd.DataFrame(
        {
            "order_id": np.arange(1, rows + 1),
            "region": rng.choice(["north", "south", "east", "west"], rows),
            "category": rng.choice(["toys", "books", "food"], rows),
            "quantity": rng.integers(-2, 20, rows),
            "unit_price": rng.integers(100, 10_000, rows) / 100,
        }
    )
    text = frame.astype(str)
    for row in bad_rows:
        text.loc[row - 1, "quantity"] = "lots"
    text.to_csv(path, index=False)
    return frame.drop(index=[row - 1 for row in bad_rows])


def spec(tmp_path: Path, body: dict[str, object]) -> Path:
    """A spec file in the producer's folder."""
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"version": 1, **body}, sort_keys=False))
    return path


def job_events(url: str, job_id: str) -> list[tuple[str, dict[str, object]]]:
    """The job's history: (event type, data) in order."""
    with PostgresEventStore(url, pool_size=1) as store:
        return [(e.event_type, dict(e.data)) for e in store.read_stream(stream_of(job_id))]


def wait_for(
    url: str, job_id: str, wanted: str, *, timeout_s: float = JOB_TIMEOUT_S
) -> list[tuple[str, dict[str, object]]]:
    """Poll the job's stream until an event of type ``wanted`` is in it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        events = job_events(url, job_id)
        if any(kind == wanted for kind, _ in events):
            return events
        if any(kind == "JobFailed" for kind, _ in events):
            raise AssertionError(f"job failed: {events[-1]}")
        time.sleep(0.05)
    raise AssertionError(f"no {wanted} in {timeout_s} s: {job_events(url, job_id)}")


def sales_to_table_job(folder: Path, rows: int = 400_000) -> int:
    """A CSV of ``rows`` sales and a spec loading it into the table sales_rows, in partitions
    small enough that its worker can be killed after the first; the row count."""
    write_sales(folder / "sales.csv", rows, bad_rows=[])
    spec(
        folder,
        {
            "name": "sales to a table",
            "source": {"format": "csv", "path": "sales.csv", "partition_mb": 1},
            "transforms": [{"op": "derive", "column": "revenue", "expr": "quantity * unit_price"}],
            "sink": {"kind": "postgres", "table": "sales_rows", "mode": "replace"},
        },
    )
    return rows


def order_ids_stored(url: str) -> tuple[int, int, int, int]:
    """Rows in sales_rows, distinct order ids among them, the lowest and the highest."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT order_id), min(order_id), max(order_id)"
            " FROM sales_rows"
        ).fetchone()
    return (row[0], row[1], row[2], row[3]) if row else (0, 0, 0, 0)
