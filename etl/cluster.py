"""The Dask cluster a job runs on: the one TUSKFLOW_DASK_SCHEDULER names, or a local one."""

import ctypes
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import structlog
from distributed import Client

from tuskflow.config.errors import ServiceError

log = structlog.get_logger(__name__)

CONNECT_TIMEOUT_S = 30
_START_TIMEOUT_S = 60
_PR_SET_PDEATHSIG = 1


def connect(address: str) -> Client:
    """A client of the scheduler at ``address``; ServiceError names it when it is unreachable."""
    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except OSError as exc:
        raise ServiceError(
            f"cannot reach the Dask scheduler at {address}: {exc}; start it"
            " (`dask scheduler`) or unset TUSKFLOW_DASK_SCHEDULER to use a local cluster"
        ) from exc


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel sends SIGTERM when its parent dies."""
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class LocalDaskCluster:
    """A Dask scheduler and single-thread worker processes on 127.0.0.1, children of this one.

    They are plain processes (no threads in the owner), so an owner that forks afterwards, as
    Celery's prefork pool does, forks safely; they die with their owner. Close it when done.
    """

    def __init__(self, workers: int, *, memory_limit: str = "auto") -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="tuskflow-dask-")
        scheduler_file = Path(self._folder.name) / "scheduler.json"
        self.processes = [
            self._spawn(
                "dask_scheduler",
                "--scheduler-file",
                str(scheduler_file),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                "127.0.0.1:0",
            )
        ]
        self.address = self._wait_for_address(scheduler_file)
        for _ in range(workers):
            self.processes.append(
                self._spawn(
                    "dask_worker",
                    self.address,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--host",
                    "127.0.0.1",
                    "--memory-limit",
                    memory_limit,
                    "--death-timeout",
                    "10",
                    "--no-dashboard",
                )
            )
        self._wait_for_workers(workers)
        log.info("dask local cluster started", address=self.address, workers=workers)

    def _spawn(self, module: str, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", f"distributed.cli.{module}", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - the owner has no threads yet
        )

    def _wait_for_address(self, scheduler_file: Path) -> str:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.processes[0].poll() is not None:
                raise ServiceError(
                    "the local Dask scheduler exited at start; run `dask scheduler`"
                    " by hand to see why"
                )
            try:
                return str(json.loads(scheduler_file.read_text())["address"])
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        self.close()
        raise ServiceError(f"the local Dask scheduler did not start in {_START_TIMEOUT_S} s")

    def _wait_for_workers(self, workers: int) -> None:
        with Client(self.address, timeout=CONNECT_TIMEOUT_S, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=_START_TIMEOUT_S)

    def close(self) -> None:
        """Stop the workers, then the scheduler."""
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._folder.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
