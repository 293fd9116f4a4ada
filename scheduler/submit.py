"""The submit API for producer scripts: validate a job spec, record it, enqueue it.

A spec is checked against its source's files before anything happens; an invalid one raises
SpecError listing every problem, and nothing is recorded or enqueued. A valid one is recorded
as JobSubmitted in the job's stream first, then enqueued, so a worker always finds the job.

Celery, Redis and the PostgreSQL store are imported when a job is recorded or enqueued, not
before: a spec that fails validation is refused without loading them.
"""

import getpass
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuskflow.config.errors import BrokerUnavailableError, RetryableError
from tuskflow.config.settings import process_settings as settings
from tuskflow.etl import sources
from tuskflow.etl.errors import Problem, SpecError
from tuskflow.etl.spec import (
    CsvSink,
    JobSpec,
    ParquetSink,
    load_spec_file,
    parse_spec,
    spec_json,
    with_absolute_paths,
)
from tuskflow.etl.validate import check_spec
from tuskflow.etl.writable import unwritable
from tuskflow.jobs.job import stream_of, summary

if TYPE_CHECKING:
    from tuskflow.jobs.history import JobHistory

SpecInput = JobSpec | Mapping[str, Any] | str | Path

_POLL_S = 1.0


def validate(spec: SpecInput) -> JobSpec:
    """The spec, with relative paths made absolute, checked against its source's files."""
    loaded = _load(spec)
    resolved = with_absolute_paths(loaded, Path.cwd())
    # The sink is checked by the path as given, so its message names the path the user wrote.
    problems = check_spec(resolved, sources.read_schema) + _sink_problems(loaded)
    if problems:
        raise SpecError.of(problems)
    return resolved


def _sink_problems(spec: JobSpec) -> list[Problem]:
    if not isinstance(spec.sink, ParquetSink | CsvSink):
        return []
    refusal = unwritable(spec.sink.path)
    return [] if refusal is None else [Problem("sink.path", refusal)]


def submit(spec: SpecInput) -> str:
    """Validate, record and enqueue a job; return its id."""
    checked = validate(spec)
    job_id = uuid.uuid4().hex[:16]
    _probe_broker()  # before anything is recorded: a job is never left behind unsent
    with _history() as history:
        history.submitted(job_id, checked.name, spec_json(checked), _submitter())
        _enqueue(history, job_id, task_id=job_id)
    return job_id


def retry(job_id: str) -> None:
    """Open a failed or cancelled job to a new attempt and enqueue it again."""
    _probe_broker()
    with _history() as history:
        history.retry(job_id)
        _enqueue(history, job_id, task_id=f"{job_id}-{uuid.uuid4().hex[:6]}")


def cancel(job_id: str, reason: str = "cancelled by request") -> None:
    """Cancel a job; a queued one is skipped, a running one stops at its next partition."""
    with _history() as history:
        history.cancel(job_id, reason)


def status(job_id: str) -> dict[str, Any]:
    """The job's state as its stream tells it; UnknownJobError for an unknown id."""
    with _history() as history:
        return summary(history.existing(job_id))


def history(job_id: str) -> list[dict[str, Any]]:
    """The job's events in order: when, what, and the event's data; UnknownJobError for an
    unknown id."""
    with _history() as jobs:
        jobs.existing(job_id)
        events = jobs.store.read_stream(stream_of(job_id), limit=100_000)
    return [
        {"recorded_at": event.recorded_at, "event_type": event.event_type, "data": dict(event.data)}
        for event in events
    ]


def wait(
    job_id: str,
    *,
    timeout_s: float | None = None,
    on_progress: Callable[[dict[str, Any]], object] | None = None,
    on_outage: Callable[[str | None], object] | None = None,
) -> dict[str, Any]:
    """Wait until the job ends; ``on_progress`` sees each change. TimeoutError past the bound,
    UnknownJobError at once for an unknown id.

    While the database cannot be reached the job goes on without us: ``on_outage`` is told
    why (once per outage) and then None when the database answers again, and waiting goes on.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    last: dict[str, Any] = {}
    outage: str | None = None
    # Woken by the store's NOTIFY on every append, so the end is seen at once; the timeout
    # makes it a poll while notifications are not coming.
    from tuskflow.eventstore.postgres.notify import NotifyWaker

    waker = NotifyWaker(settings().required("database_url"))
    waker.listen()
    try:
        with _history() as history:
            while True:
                try:
                    job = history.existing(job_id)
                except RetryableError as exc:
                    outage = _report_outage(on_outage, outage, str(exc))
                    _check_deadline(job_id, last.get("status"), deadline, timeout_s)
                    time.sleep(_POLL_S)
                    continue
                if outage is not None and on_outage is not None:
                    on_outage(None)
                current = summary(job)
                if current != last and on_progress is not None:
                    on_progress(current)
                last = current
                if job.finished:
                    return current
                _check_deadline(job_id, job.status, deadline, timeout_s)
                lost = waker.wait(_POLL_S)
                outage = None if lost is None else _report_outage(on_outage, None, lost)
    finally:
        waker.close()


def _report_outage(
    on_outage: Callable[[str | None], object] | None, known: str | None, reason: str
) -> str:
    """Tell ``on_outage`` of an outage it has not heard of yet; the outage now known."""
    if known is None and on_outage is not None:
        on_outage(reason)
    return reason


def _check_deadline(
    job_id: str, status: str | None, deadline: float | None, timeout_s: float | None
) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise TimeoutError(f"job {job_id} is still {status} after {timeout_s} s")


@contextmanager
def _history() -> Iterator["JobHistory"]:
    from tuskflow.config.database import probe
    from tuskflow.eventstore.postgres.store import PostgresEventStore
    from tuskflow.jobs.history import JobHistory

    url = settings().required("database_url")
    probe(url, "producer")
    with PostgresEventStore(url, pool_size=1, role="producer") as store:
        yield JobHistory(store)


def _enqueue(history: "JobHistory", job_id: str, *, task_id: str) -> None:
    from tuskflow.config.celery import ETL_QUEUE, RUN_JOB_TASK
    from tuskflow.tasks.app import app

    try:
        app.send_task(RUN_JOB_TASK, args=[job_id], task_id=task_id, queue=ETL_QUEUE)
    except Exception as exc:  # kombu raises many kinds for one cause: the broker is unreachable
        history.cancel(job_id, f"could not be enqueued: {exc}")
        raise BrokerUnavailableError(
            f"job {job_id} could not be enqueued: Redis at {_broker()} is unreachable ({exc});"
            " the job is recorded cancelled, submit it again once Redis runs"
        ) from exc


def _probe_broker() -> None:
    """BrokerUnavailableError within seconds if Celery's broker cannot be reached."""
    from tuskflow.config.redis_probe import probe_redis

    probe_redis(settings().required("redis_url"))


def _broker() -> str:
    from tuskflow.config.redis_probe import redis_address

    return redis_address(settings().required("redis_url"))


def _load(spec: SpecInput) -> JobSpec:
    if isinstance(spec, JobSpec):
        return spec
    if isinstance(spec, str | Path):
        return load_spec_file(Path(spec))
    return parse_spec(dict(spec))


def _submitter() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"
