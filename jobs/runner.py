"""One attempt at a job: plan it, record its start, run it on Dask, record how it ended.

The Celery task calls ``run_attempt`` and nothing else. The attempt reads the spec from the
job's stream, so a redelivered task runs the job as it was submitted; a job that has already
ended (succeeded, failed or cancelled) is not run again.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import structlog
from distributed import Client

from tuskflow.config.errors import RetryableError
from tuskflow.etl.context import JobContext
from tuskflow.etl.engine import JobPlan, JobResult, plan_job, run_plan
from tuskflow.etl.errors import JobCancelledError, SpecError
from tuskflow.etl.rejects import store_rejects
from tuskflow.etl.spec import parse_spec
from tuskflow.jobs.history import JobHistory, JobStateError
from tuskflow.jobs.job import Job
from tuskflow.jobs.lease import AttemptLease

log = structlog.get_logger(__name__)

_CANCEL_POLL_S = 0.5
# How long the last retry of an outage waits for the store to record the job as failed.
_RECORD_FAILURE_WITHIN_S = 120.0
_RECORD_FAILURE_POLL_S = 1.0


class HistoryObserver:
    """Tells the job's stream about progress and asks it whether the job was cancelled."""

    def __init__(self, history: JobHistory, job_id: str, attempt: int, database_url: str) -> None:
        self.history = history
        self.job_id = job_id
        self.attempt = attempt
        self.database_url = database_url
        self._asked_at = 0.0
        self._cancelled = False

    def partition_done(self, index: int, rows_in: int, rejected: int) -> None:
        """Record the partition in the job's stream."""
        self.history.partition_completed(self.job_id, self.attempt, index, rows_in, rejected)
        log.info("partition done", partition=index, rows_in=rows_in, rejected=rejected)

    def cancelled(self) -> bool:
        """Whether the job was cancelled; asks the store at most every half second."""
        now = time.monotonic()
        if not self._cancelled and now - self._asked_at >= _CANCEL_POLL_S:
            self._asked_at = now
            self._cancelled = self.history.is_cancelled(self.job_id)
        return self._cancelled

    def rejected(self, rejects: pa.Table) -> None:
        """Keep the attempt's rejects in PostgreSQL."""
        store_rejects(self.database_url, self.job_id, self.attempt, rejects)

    def publishing(self) -> None:
        """Fence the publish in the job's stream: refused after a cancel or a newer attempt."""
        self.history.publishing(self.job_id, self.attempt)


@dataclass(frozen=True)
class Runner:
    """Who runs an attempt: the Celery worker's name, the task's id, and the lease time."""

    worker: str
    task_id: str
    lease_s: float


def run_attempt(
    history: JobHistory,
    job_id: str,
    *,
    runner: Runner,
    client: Client,
    context: Callable[[int], JobContext],
    final: bool,
) -> JobResult | None:
    """Run the job once; None when it has already ended.

    A failure is recorded as this attempt's JobFailed and raised, except an outage
    (RetryableError) while ``final`` is false: the caller tries again later, as a new attempt.
    A cancel is raised as JobCancelledError and recorded by whoever cancelled. The attempt holds
    the job's lease (jobs.lease) until how it ended is recorded.
    """
    job = history.load(job_id)
    if not job.exists:
        raise JobStateError(f"no job {job_id} in the event store; was it submitted here?")
    if job.finished:
        log.info("job already ended; not run again", status=job.status)
        return None
    opened = _open_attempt(history, job, runner.worker, runner.task_id)
    if opened is None:
        return None
    plan, attempt = opened
    job_context = context(attempt)
    structlog.contextvars.bind_contextvars(attempt=attempt)
    database_url = job_context.database_url or ""
    observer = HistoryObserver(history, job_id, attempt, database_url)
    with AttemptLease(database_url, job_id, attempt, runner.worker, runner.lease_s):
        try:
            result = run_plan(plan, job_context, client, observer)
        except (JobCancelledError, JobStateError):
            raise
        except Exception as exc:
            if final or not isinstance(exc, RetryableError):
                history.failed(job_id, attempt, _describe(exc))
            raise
        history.succeeded(job_id, attempt, result.as_json())
    return result


def _open_attempt(
    history: JobHistory, job: Job, worker: str, task_id: str
) -> tuple[JobPlan, int] | None:
    """Plan the job and record its start; a spec that no longer plans fails the attempt."""
    try:
        plan = plan_job(parse_spec(dict(job.spec)))
    except SpecError as exc:
        started = history.started(job.job_id, worker, task_id, partitions=0)
        if started is not None:
            history.failed(job.job_id, started.attempt, str(exc))
        raise
    started = history.started(job.job_id, worker, task_id, partitions=len(plan.partitions))
    return None if started is None else (plan, started.attempt)


def record_failure_when_reachable(
    history: JobHistory, job_id: str, error: str, *, within_s: float = _RECORD_FAILURE_WITHIN_S
) -> bool:
    """Record the job's current attempt as failed, waiting up to ``within_s`` for the store.

    For the last retry of an outage: the store that could not be reached must hear how the job
    ended once it answers. False when it stayed away (the lease reaper then takes the job over)
    or the job has ended meanwhile.
    """
    deadline = time.monotonic() + within_s
    while True:
        try:
            job = history.load(job_id)
            if job.finished:
                return False
            history.failed(job_id, job.attempt, error)
            return True
        except JobStateError:
            return False  # a newer attempt took over meanwhile: its outcome will be recorded
        except RetryableError as exc:
            if time.monotonic() > deadline:
                log.error("job failure not recorded; the store stayed away", error=str(exc))
                return False
            time.sleep(_RECORD_FAILURE_POLL_S)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
