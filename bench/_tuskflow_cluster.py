"""The ETL benchmark's tuskflow side: a Dask scheduler, single-thread Dask workers and a Celery
worker as separate processes, and a job submitted to them through ``scheduler.submit``.

The processes are what a deployment runs:

    dask scheduler --host 127.0.0.1 --port P
    dask worker tcp://127.0.0.1:P --nthreads 1          (one per worker)
    celery -A tuskflow.tasks worker -Q etl --concurrency 1       (TUSKFLOW_DASK_SCHEDULER=tcp://127.0.0.1:P)

with the services' addresses the caller gives (``local_services_env`` reads those of
``tuskflow local env``). They are started before any
clock and stopped with SIGTERM at the end; their logs go to a folder the caller names.
"""

from __future__ import annotations

import contextlib
import importlib
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
CELERY_NAME = "bench-etl@%h"
# Celery's default pool; one child process, so that the worker runs one job at a time.
CELERY_POOL = ("--pool", "prefork", "--concurrency", "1")
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
PING_TIMEOUT_S = 2.0
LOG_TAIL = 20
DEFAULT_ETL_QUEUE = "etl"


class ClusterError(RuntimeError):
    """A process of the tuskflow side did not start or a job did not finish."""


class NotReadyError(ClusterError):
    """tuskflow's submit API cannot be imported yet."""


@dataclass(frozen=True)
class TuskflowApi:
    """``scheduler.submit`` and ``scheduler.wait``."""

    submit: Callable[[Mapping[str, Any]], str]
    wait: Callable[..., dict[str, Any]]


def tuskflow_api() -> TuskflowApi:
    """``scheduler.submit`` and ``scheduler.wait``, or NotReadyError saying why not."""
    try:
        from tuskflow import scheduler  # noqa: PLC0415  (late: the references run without tuskflow's stack)
    except ImportError as exc:
        raise NotReadyError(f"the scheduler package does not import ({exc})") from None
    return TuskflowApi(scheduler.submit, scheduler.wait)


def submit_and_wait(api: TuskflowApi, spec: Mapping[str, Any], timeout_s: float) -> None:
    """Submit the job and block until it ends; ClusterError unless it succeeded."""
    job_id = api.submit(spec)
    try:
        final = api.wait(job_id, timeout_s=timeout_s)
    except TimeoutError as exc:
        raise ClusterError(str(exc)) from None
    if final["status"] != "succeeded":
        error = final.get("error")
        raise ClusterError(
            f"job {job_id} ended {final['status']}" + (f": {error}" if error else "")
        )


def etl_queue() -> str:
    """The queue ETL jobs are sent to, which the Celery worker must consume."""
    module = importlib.import_module("tuskflow.config.celery")
    return str(getattr(module, "ETL_QUEUE", DEFAULT_ETL_QUEUE))


def celery_app_module() -> str:
    """The module that ``celery -A`` loads for tuskflow's app."""
    module = importlib.import_module("tuskflow.config.celery")
    return str(module.CELERY_APP_MODULE)


def local_services_env() -> dict[str, str]:
    """The TUSKFLOW_* addresses of the local services, from ``tuskflow local env``."""
    done = subprocess.run(
        [str(BIN / "tuskflow"), "local", "env"],
        cwd=ROOT,  # the local services' state folder is relative to the repository root
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ClusterError(f"tuskflow local env failed: {done.stderr.strip()}")
    found: dict[str, str] = {}
    for line in done.stdout.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            found[name] = value
    return found


@dataclass(frozen=True)
class Cluster:
    """The running processes (whose trees hold the tuskflow side's memory) and their address."""

    address: str
    roots: list[psutil.Process]
    env: dict[str, str]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def running_cluster(workers: int, env: dict[str, str], log_dir: Path) -> Iterator[Cluster]:
    """A Dask scheduler, ``workers`` single-thread Dask workers and a Celery worker, started
    and ready; all stopped with SIGTERM on exit."""
    address = f"tcp://{HOST}:{free_port()}"
    env = {**env, "TUSKFLOW_DASK_SCHEDULER": address}
    with contextlib.ExitStack() as stack:
        spawn = _spawner(stack, env, log_dir)
        scheduler = spawn(
            "dask-scheduler",
            [str(BIN / "dask"), "scheduler", "--host", HOST, "--port", address.rpartition(":")[2]],
            "--no-dashboard",
        )
        _wait_port(address, scheduler, log_dir / "dask-scheduler.log")
        dask_workers = [
            spawn(f"dask-worker-{n}", [str(BIN / "dask"), "worker", address], *_WORKER_OPTIONS)
            for n in range(workers)
        ]
        _wait_workers(address, workers)
        celery = spawn(
            "celery-worker",
            [str(BIN / "celery"), "-A", celery_app_module(), "worker", "--hostname", CELERY_NAME],
            *("--queues", etl_queue()),
            *CELERY_POOL,
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        )
        _wait_celery(celery, env, log_dir / "celery-worker.log")
        roots = [psutil.Process(p.pid) for p in (scheduler, *dask_workers, celery)]
        yield Cluster(address, roots, env)


# No nanny: a nanny is one more process (about 100 MB) per worker, and restarts are not measured.
_WORKER_OPTIONS = ("--nthreads", "1", "--no-nanny", "--no-dashboard")


def _spawner(
    stack: contextlib.ExitStack, env: dict[str, str], log_dir: Path
) -> Callable[..., subprocess.Popen[bytes]]:
    def spawn(name: str, argv: list[str], *options: str) -> subprocess.Popen[bytes]:
        log = stack.enter_context((log_dir / f"{name}.log").open("wb"))
        process = subprocess.Popen(
            [*argv, *options], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        stack.callback(_stop, process)
        return process

    return spawn


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_port(address: str, process: subprocess.Popen[bytes], log: Path) -> None:
    port = int(address.rpartition(":")[2])
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ClusterError(f"the Dask scheduler exited ({process.returncode})" + log_tail(log))
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return
        time.sleep(0.1)
    raise ClusterError(f"the Dask scheduler did not listen on {address}" + log_tail(log))


def _wait_workers(address: str, count: int) -> None:
    from distributed import Client  # noqa: PLC0415

    # distributed's constructors carry no annotations.
    with Client(address, timeout=START_TIMEOUT_S) as client:  # type: ignore[no-untyped-call]
        client.wait_for_workers(count, timeout=START_TIMEOUT_S)


def _wait_celery(process: subprocess.Popen[bytes], env: dict[str, str], log: Path) -> None:
    """Ping the Celery worker until it answers."""
    ping = [
        str(BIN / "celery"),
        "-A",
        celery_app_module(),
        "inspect",
        "ping",
        "--timeout",
        str(PING_TIMEOUT_S),
    ]
    destination = ["--destination", CELERY_NAME.replace("%h", socket.gethostname())]
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ClusterError(f"the Celery worker exited ({process.returncode})" + log_tail(log))
        answered = subprocess.run(
            [*ping, *destination], cwd=ROOT, env=env, capture_output=True, check=False
        )
        if answered.returncode == 0:
            return
    raise ClusterError("the Celery worker did not answer a ping" + log_tail(log))


def log_tail(log: Path) -> str:
    """The last lines of a process's log, indented, to end an error message with."""
    if not log.exists():
        return ""
    lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL:]
    return f"\n  last lines of {log.name}:\n" + "\n".join(f"    {line}" for line in lines)
