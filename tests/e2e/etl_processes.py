"""Real processes for the ETL end-to-end tests: a Celery worker and a producer script."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import redis

from tuskflow.deploy.local.worker import worker_argv

READY_TIMEOUT_S = 60
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
            _stop(process)


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


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
