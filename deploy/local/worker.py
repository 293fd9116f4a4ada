"""A local Celery worker on the ETL and maintenance queues, for `make demo` and trying jobs by
hand.

It runs detached from the command that starts it, with its log and pid file in
``<state>/worker``. Without TUSKFLOW_DASK_SCHEDULER it owns a local Dask cluster.
"""

import os
import sys
import zlib
from collections.abc import Mapping
from pathlib import Path

from tuskflow.config.celery import CELERY_APP_MODULE, ETL_QUEUE, MAINTENANCE_QUEUE
from tuskflow.deploy.local import _process

_READY_TIMEOUT_S = 90


def worker_argv(node_name: str, concurrency: int = 1) -> list[str]:
    """The command line of a Celery worker on the ETL and maintenance queues, named
    ``node_name``."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        CELERY_APP_MODULE,
        "worker",
        "-Q",
        f"{ETL_QUEUE},{MAINTENANCE_QUEUE}",
        "-c",
        str(concurrency),
        "--loglevel",
        "INFO",
        "-n",
        node_name,
        "--without-gossip",
        "--without-mingle",
    ]


class EtlWorker:
    """`celery -A tuskflow.tasks worker -Q etl,maintenance` in ``<state>/worker``, started on
    request."""

    name = "worker"

    def __init__(self, state_dir: Path) -> None:
        self.home = (state_dir / "worker").resolve()
        self.pid_file = self.home / "worker.pid"
        self.log = self.home / "worker.log"
        # The node name carries the state folder's path, so the pid file's process is ours.
        self.node_name = f"etl-{zlib.crc32(str(self.home).encode()):08x}@%h"

    def pid(self) -> int | None:
        """The worker's main process, when it runs."""
        return _process.pid_from_file(self.pid_file, "celery", CELERY_APP_MODULE, self.node_name)

    def start(self, env: Mapping[str, str], concurrency: int = 1) -> bool:
        """Start the worker with ``env`` and wait until it takes jobs; False if it ran already."""
        if self.pid() is not None:
            return False
        self.home.mkdir(parents=True, exist_ok=True)
        self.log.unlink(missing_ok=True)
        argv = worker_argv(self.node_name, concurrency)
        _process.launch(argv, self.log, self.pid_file, {**os.environ, **env})
        _process.wait_until(
            self._ready,
            timeout_s=_READY_TIMEOUT_S,
            what="the Celery worker",
            alive=lambda: self.pid() is not None,
            log_path=self.log,
        )
        return True

    def stop(self) -> bool:
        """Warm shutdown: the worker finishes the job in hand, then exits."""
        return _process.stop_launched(
            self.pid(), self.pid_file, what="the Celery worker", timeout_s=120
        )

    def _ready(self) -> bool:
        return self.log.exists() and b" ready." in self.log.read_bytes()
