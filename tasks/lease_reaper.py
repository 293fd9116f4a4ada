"""Takes over the jobs of workers that died: a thread in every ETL worker's main process.

Every half lease time it takes the leases left to expire (jobs.lease: each goes to one worker
alone) and enqueues again each job whose expired attempt is still its running one. A job lost
with its worker (killed with its pool, or its host gone) so runs again within about one and a
half lease times (TUSKFLOW_JOB_LEASE_S), instead of after the broker's visibility timeout.
"""

import threading
from typing import Any

import structlog
from celery.signals import worker_ready, worker_shutdown

from tuskflow.config.celery import ETL_QUEUE, RUN_JOB_TASK
from tuskflow.config.database import connect
from tuskflow.eventstore.postgres.store import PostgresEventStore
from tuskflow.jobs.history import JobHistory
from tuskflow.jobs.lease import take_expired
from tuskflow.tasks.app import app, settings

log = structlog.get_logger(__name__)

_stop = threading.Event()
_threads: list[threading.Thread] = []


@worker_ready.connect
def _start_reaper(**_: Any) -> None:
    if not _threads:
        _stop.clear()
        thread = threading.Thread(target=_reap_until_stopped, name="lease-reaper", daemon=True)
        _threads.append(thread)
        thread.start()


@worker_shutdown.connect
def _stop_reaper(**_: Any) -> None:
    _stop.set()
    while _threads:
        _threads.pop().join(timeout=10)


def _reap_until_stopped() -> None:
    current = settings()
    database_url, lease_s = current.required("database_url"), current.job_lease_s
    while not _stop.wait(lease_s / 2):
        try:
            reap(database_url, lease_s)
        except Exception as exc:  # PostgreSQL or the broker away: try again next round
            log.warning("lease_reaper.failed", error=str(exc).strip(), retry_in_s=lease_s / 2)


def reap(database_url: str, lease_s: float) -> list[str]:
    """Enqueue again each job whose lease expired while its attempt was the running one.

    The expired leases are taken and the jobs enqueued in one transaction: if the broker
    refuses, the leases stay for the next round.
    """
    taken: list[str] = []
    with connect(database_url, "etl-lease-reaper", autocommit=False) as conn, conn.transaction():
        expired = take_expired(conn, lease_s)
        if not expired:
            return taken  # the usual round: no job history to read
        with PostgresEventStore(database_url, pool_size=1) as store:
            history = JobHistory(store)
            for job_id, attempt, worker in expired:
                job = history.load(job_id)
                if job.status != "running" or job.attempt != attempt:
                    continue  # it ended, or a newer attempt runs
                app.send_task(RUN_JOB_TASK, args=[job_id], queue=ETL_QUEUE)
                log.warning("job.taken_over", job_id=job_id, attempt=attempt, lost_worker=worker)
                taken.append(job_id)
    return taken
