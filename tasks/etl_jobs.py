"""The ETL task: one delivery of it is one attempt at a job."""

from typing import Any

import structlog
from celery import Task

from tuskflow.config.celery import RUN_JOB_TASK
from tuskflow.config.errors import RetryableError
from tuskflow.etl.context import JobContext
from tuskflow.etl.errors import JobCancelledError
from tuskflow.eventstore.postgres.store import PostgresEventStore
from tuskflow.jobs.history import JobHistory, JobStateError
from tuskflow.jobs.runner import Runner, record_failure_when_reachable, run_attempt
from tuskflow.tasks.app import app, settings
from tuskflow.tasks.dask_owner import dask_client

log = structlog.get_logger(__name__)


@app.task(name=RUN_JOB_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def run_job(self: Task, job_id: str) -> dict[str, Any]:
    """Run the job's next attempt; retry an outage, record and raise anything else. The result
    names the job and its spec (what Flower shows beside the task)."""
    structlog.contextvars.bind_contextvars(job_id=job_id, task_id=self.request.id)
    current = settings()
    database_url = current.required("database_url")

    def context(attempt: int) -> JobContext:
        return JobContext(job_id, attempt, database_url)

    with PostgresEventStore(database_url) as store:
        history = JobHistory(store)
        spec = ""
        try:
            # Inside the try: PostgreSQL away here is an outage like any in the attempt.
            spec = history.load(job_id).name
            structlog.contextvars.bind_contextvars(spec=spec)
            result = run_attempt(
                history,
                job_id,
                runner=Runner(
                    self.request.hostname or "", self.request.id or "", current.job_lease_s
                ),
                client=dask_client(),
                context=context,
                final=self.request.retries >= current.job_retries,
            )
        except JobCancelledError:
            log.info("job cancelled; nothing published")
            return {"job_id": job_id, "spec": spec, "status": "cancelled"}
        except JobStateError as exc:
            log.warning("attempt stopped by the job's state", reason=str(exc))
            return {"job_id": job_id, "spec": spec, "status": "superseded"}
        except RetryableError as exc:
            if self.request.retries < current.job_retries:
                log.warning("job attempt hit an outage; retrying", error=str(exc))
                raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc
            log.error("job failed", error=str(exc))
            record_failure_when_reachable(
                history,
                job_id,
                f"gave up after {_retries(current.job_retries)} of an outage: {exc}",
            )
            raise
        except Exception as exc:
            log.error("job failed", error=str(exc), error_type=type(exc).__name__)
            raise
    if result is None:
        return {"job_id": job_id, "spec": spec, "status": "skipped"}
    return {"job_id": job_id, "spec": spec, "status": "succeeded", **result.as_json()}


def _retries(count: int) -> str:
    return f"{count} {'retry' if count == 1 else 'retries'}"
