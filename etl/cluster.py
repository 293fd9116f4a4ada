"""The Dask cluster a job runs on: the one TUSKFLOW_DASK_SCHEDULER names, or a local one."""

import contextlib
import ctypes
import fcntl
import json
import os
import shutil
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
_FOLDER_PREFIX = "tuskflow-dask-"
_LOCK = "owner.lock"
_UNLOCKED_GRACE_S = 60  # a folder made this recently may not have its lock yet


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
    """Runs in the child before exec: the kernel kills it when its parent dies.

    SIGKILL, not SIGTERM: a worker told to stop closes gracefully, asking a scheduler that is
    dying too, and took more than 20 s to exit in one CI run. An owner's cluster has nothing
    to save once the owner is gone; its folder is swept by the next cluster.
    """
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _claim_folder() -> tuple[Path, int]:
    """A new folder for a cluster's files, and the descriptor of the lock held while it lives.

    The lock is an flock on a file inside: the kernel drops it when the last process holding
    it dies, however it dies, so a folder whose lock can be taken belongs to nobody.
    """
    folder = Path(tempfile.mkdtemp(prefix=_FOLDER_PREFIX))
    lock = os.open(folder / _LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return folder, lock


def remove_stale_folders(parent: Path | None = None) -> list[Path]:
    """Remove the folders that local clusters whose owners were killed left behind; them.

    A killed owner cannot clean up (its children die with it, by PDEATHSIG), so each new
    cluster sweeps: a folder is stale when nobody holds its lock.
    """
    removed = []
    for folder in (parent or Path(tempfile.gettempdir())).glob(f"{_FOLDER_PREFIX}*"):
        if folder.is_dir() and _unowned(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    if removed:
        log.info("dask local cluster folders removed", folders=[str(each) for each in removed])
    return removed


def _unowned(folder: Path) -> bool:
    try:
        lock = os.open(folder / _LOCK, os.O_RDWR)
    except FileNotFoundError:
        try:
            return time.time() - folder.stat().st_mtime > _UNLOCKED_GRACE_S
        except OSError:
            return False  # removed meanwhile, by its owner or another sweep
    except OSError:
        return False
    try:
        with contextlib.suppress(BlockingIOError):
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        return False
    finally:
        os.close(lock)


class LocalDaskCluster:
    """A Dask scheduler and single-thread worker processes on 127.0.0.1, children of this one.

    They are plain processes (no threads in the owner), so an owner that forks afterwards, as
    Celery's prefork pool does, forks safely; they die with their owner. Close it when done.
    """

    def __init__(self, workers: int, *, memory_limit: str = "auto") -> None:
        remove_stale_folders()
        self.folder, self._lock = _claim_folder()
        scheduler_file = self.folder / "scheduler.json"
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
                    "--local-directory",
                    str(self.folder / "workers"),
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
        shutil.rmtree(self.folder, ignore_errors=True)
        os.close(self._lock)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
