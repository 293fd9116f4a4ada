"""The Dask cluster of a Celery worker: the configured scheduler, or a local one it owns.

Without TUSKFLOW_DASK_SCHEDULER the worker's main process starts a local cluster when it
starts (never inside a forked pool child) and stops it when it stops; the pool children,
forked afterwards, inherit its address. Each process keeps one client, made on first use.
"""

import os
from typing import Any

from celery.signals import worker_init, worker_shutdown
from distributed import Client

from tuskflow.config.celery import ETL_QUEUE
from tuskflow.etl.cluster import LocalDaskCluster, connect
from tuskflow.tasks.app import settings

_owned: list[LocalDaskCluster] = []
_clients: dict[int, Client] = {}


@worker_init.connect
def _start_local_cluster(sender: Any = None, **_: Any) -> None:
    if settings().dask_scheduler is None and not _owned and _takes_etl_jobs(sender):
        _owned.append(LocalDaskCluster(workers=os.cpu_count() or 1))


def _takes_etl_jobs(worker: Any) -> bool:
    """Whether the worker consumes the ETL queue: a maintenance-only worker needs no cluster."""
    consumed = getattr(getattr(worker, "app", None), "amqp", None)
    queues = consumed.queues.consume_from if consumed is not None else None
    return queues is None or ETL_QUEUE in queues


@worker_shutdown.connect
def _stop_local_cluster(**_: Any) -> None:
    while _owned:
        _owned.pop().close()


def scheduler_address() -> str:
    """The address of the scheduler this worker's jobs run on."""
    configured = settings().dask_scheduler
    if configured is not None:
        return configured
    if not _owned:
        raise RuntimeError("no Dask cluster: this process is not a worker started by Celery")
    return _owned[0].address


def dask_client() -> Client:
    """This process's client of the worker's Dask cluster, made on first use."""
    pid = os.getpid()
    if pid not in _clients:
        _clients[pid] = connect(scheduler_address())
    return _clients[pid]
