"""Leases of running ETL attempts: how a job outlives the worker that runs it.

While an attempt runs, its worker renews the job's lease every third of the lease time, and
drops it when the attempt ends however it ends. A lease left unrenewed for the whole lease time
belongs to a worker that is gone (killed with its pool, or its host lost): ``take_expired``
hands each such lease to exactly one caller, by deleting the row it reads, and that caller
enqueues the job again. The new attempt supersedes the lost one, whose late writes the job's
history fences out. Without this, Celery would redeliver the task only after the broker's
visibility timeout (hours).
"""

import threading
from types import TracebackType
from typing import Any

import psycopg
import structlog

from tuskflow.config.database import connect, database_errors
from tuskflow.config.errors import DatabaseUnavailableError

Connection = psycopg.Connection[Any]
log = structlog.get_logger(__name__)

_HOLD = (
    "INSERT INTO job_leases (job_id, attempt, worker) VALUES (%s, %s, %s)"
    " ON CONFLICT (job_id) DO UPDATE SET attempt = excluded.attempt, worker = excluded.worker,"
    " renewed_at = statement_timestamp()"
)
_RENEW = (
    "UPDATE job_leases SET renewed_at = statement_timestamp()"
    " WHERE job_id = %s AND attempt = %s RETURNING 1"
)
_DROP = "DELETE FROM job_leases WHERE job_id = %s AND attempt = %s"
_TAKE_EXPIRED = (
    "DELETE FROM job_leases"
    " WHERE renewed_at < statement_timestamp() - make_interval(secs => %s)"
    " RETURNING job_id, attempt, worker"
)


class AttemptLease:
    """Holds a job's lease for one attempt, renewed by a thread, while the block runs."""

    def __init__(
        self, database_url: str, job_id: str, attempt: int, worker: str, lease_s: float
    ) -> None:
        self.database_url = database_url
        self.job_id = job_id
        self.attempt = attempt
        self.worker = worker
        self.lease_s = lease_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{job_id}", daemon=True)

    def __enter__(self) -> "AttemptLease":
        with database_errors(self.database_url), self._connect() as conn:
            conn.execute(_HOLD, [self.job_id, self.attempt, self.worker])
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        try:
            with database_errors(self.database_url), self._connect() as conn:
                conn.execute(_DROP, [self.job_id, self.attempt])
        except DatabaseUnavailableError as error:
            # Left to expire: a worker that finds it takes over a job that has ended, and
            # leaves it be.
            log.warning("lease.not_dropped", job_id=self.job_id, error=str(error).strip())

    def _renew(self) -> None:
        conn: Connection | None = None
        try:
            while not self._stop.wait(self.lease_s / 3):
                try:
                    if conn is None or conn.closed:
                        conn = self._connect()
                    with database_errors(self.database_url):
                        renewed = conn.execute(_RENEW, [self.job_id, self.attempt]).fetchone()
                    if renewed is None:
                        log.warning("lease.lost", job_id=self.job_id, attempt=self.attempt)
                        return
                except DatabaseUnavailableError as error:
                    log.warning("lease.not_renewed", job_id=self.job_id, error=str(error).strip())
                    if conn is not None:
                        conn.close()
        finally:
            if conn is not None:
                conn.close()

    def _connect(self) -> Connection:
        return connect(self.database_url, "etl-lease")


def take_expired(conn: Connection, lease_s: float) -> list[tuple[str, int, str]]:
    """The leases not renewed for ``lease_s`` seconds, each handed to this caller alone:
    (job_id, attempt, worker)."""
    return [(row[0], row[1], row[2]) for row in conn.execute(_TAKE_EXPIRED, [lease_s])]
