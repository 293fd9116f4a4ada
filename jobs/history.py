"""Recording a job's lifecycle in its stream: every change is decided on the current state.

Each command loads the job, decides from its state, and saves with the version it loaded;
a concurrent change (a cancel racing a start) makes the save conflict, and the command is
decided again on the newer state. Event ids are stable per fact, so a task redelivered after
it recorded something records it once.
"""

from collections.abc import Callable
from typing import Any

from tuskflow.config.errors import PermanentError
from tuskflow.etl.errors import JobCancelledError
from tuskflow.eventstore.aggregate import AggregateRepository
from tuskflow.eventstore.errors import VersionConflictError
from tuskflow.eventstore.records import ANY, JsonObject, NewEvent
from tuskflow.eventstore.store import EventStore
from tuskflow.jobs import job as lifecycle
from tuskflow.jobs.job import Job

_ATTEMPTS = 8
# A load reads through the job's latest snapshot, so a job of many partitions is not read whole
# at every command: a save that leaves this many events after the last snapshot takes one
# (partition events are appended without a load; the next command after them snapshots).
SNAPSHOT_EVERY = 100


class JobStateError(PermanentError):
    """A command the job's state does not allow (cancel a finished job, retry a running one)."""


class UnknownJobError(JobStateError):
    """No job has this id."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id}; `tuskflow jobs list` shows the known ones")
        self.job_id = job_id


class JobHistory:
    """The commands that move a job through its lifecycle, on an event store."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.jobs = AggregateRepository(store, Job, snapshot_every=SNAPSHOT_EVERY)

    def load(self, job_id: str) -> Job:
        """The job as its stream tells it; ``exists`` is false for an unknown id."""
        return self.jobs.load(lifecycle.stream_of(job_id))

    def existing(self, job_id: str) -> Job:
        """The job as its stream tells it; UnknownJobError for an unknown id."""
        job = self.load(job_id)
        self._require(job, job_id)
        return job

    def submitted(self, job_id: str, name: str, spec_json: str, submitted_by: str) -> None:
        """Record a new job (``lifecycle.submitted_event``); the id must be new."""

        def decide(job: Job) -> None:
            if job.exists:
                raise JobStateError(f"job {job_id} was already submitted")
            event = lifecycle.submitted_event(job_id, name, spec_json, submitted_by)
            job.record(event.event_type, event.data, event_id=event.event_id)

        self._change(job_id, decide)

    def started(self, job_id: str, worker: str, task_id: str, partitions: int) -> Job | None:
        """Open a new attempt; None when the job has ended and must not run again."""
        started: list[Job] = []

        def decide(job: Job) -> None:
            if not job.exists:
                raise JobStateError(f"job {job_id} was never submitted")
            if job.finished:
                return
            attempt = job.attempt + 1
            data = {
                "attempt": attempt,
                "worker": worker,
                "task_id": task_id,
                "partitions": partitions,
            }
            job.record(
                lifecycle.STARTED, data, event_id=lifecycle.event_id(job_id, attempt, "started")
            )
            started.append(job)

        self._change(job_id, decide)
        return started[0] if started else None

    def partition_completed(
        self, job_id: str, attempt: int, index: int, rows_in: int, rejected: int
    ) -> None:
        """Record one partition of an attempt as read and transformed."""
        data = {"attempt": attempt, "index": index, "rows_in": rows_in, "rejected": rejected}
        event = NewEvent(
            lifecycle.PARTITION_COMPLETED,
            data,
            event_id=lifecycle.event_id(job_id, attempt, "partition", index),
        )
        self.store.append(lifecycle.stream_of(job_id), [event], ANY)

    def publishing(self, job_id: str, attempt: int) -> None:
        """Fence before an attempt makes its output visible: from here on a cancel is refused.

        Raises JobCancelledError when the job was cancelled, and JobStateError when ``attempt``
        is no longer the job's current one (a newer delivery took over): either way the
        attempt must not publish.
        """

        def decide(job: Job) -> None:
            if job.status == "cancelled":
                raise JobCancelledError(f"job {job_id} was cancelled; its output is not published")
            if job.attempt != attempt or job.status != "running":
                raise JobStateError(
                    f"attempt {attempt} of job {job_id} is no longer current (attempt"
                    f" {job.attempt}, {job.status}); it does not publish"
                )
            job.record(
                lifecycle.PUBLISHING,
                {"attempt": attempt},
                event_id=lifecycle.event_id(job_id, attempt, "publishing"),
            )

        self._change(job_id, decide)

    def succeeded(self, job_id: str, attempt: int, result: JsonObject) -> None:
        """Record that an attempt published the job's output."""
        self._finish(job_id, attempt, lifecycle.SUCCEEDED, {"attempt": attempt, **result})

    def failed(self, job_id: str, attempt: int, error: str) -> None:
        """Record that an attempt failed and published nothing."""
        self._finish(job_id, attempt, lifecycle.FAILED, {"attempt": attempt, "error": error})

    def cancel(self, job_id: str, reason: str) -> None:
        """End a job that has not finished; a running attempt stops at its next partition."""

        def decide(job: Job) -> None:
            self._require(job, job_id)
            if job.finished:
                raise JobStateError(f"job {job_id} has already {job.status}; nothing to cancel")
            if job.publishing:
                raise JobStateError(
                    f"job {job_id} is publishing its output; it can no longer be cancelled"
                )
            job.record(lifecycle.CANCELLED, {"reason": reason})

        self._change(job_id, decide)

    def retry(self, job_id: str) -> None:
        """Open a failed or cancelled job to a new attempt."""

        def decide(job: Job) -> None:
            self._require(job, job_id)
            if job.status not in {"failed", "cancelled"}:
                raise JobStateError(
                    f"job {job_id} is {job.status}; only failed or cancelled jobs are retried"
                )
            job.record(lifecycle.RETRIED, {"after_attempt": job.attempt})

        self._change(job_id, decide)

    def is_cancelled(self, job_id: str) -> bool:
        """Whether the job was cancelled (checked by a running attempt between partitions)."""
        return self.load(job_id).status == "cancelled"

    def _finish(self, job_id: str, attempt: int, event_type: str, data: JsonObject) -> None:
        def decide(job: Job) -> None:
            if job.attempt == attempt and job.status == "running":
                job.record(
                    event_type, data, event_id=lifecycle.event_id(job_id, attempt, "finished")
                )

        self._change(job_id, decide)

    @staticmethod
    def _require(job: Job, job_id: str) -> None:
        if not job.exists:
            raise UnknownJobError(job_id)

    def _change(self, job_id: str, decide: Callable[[Job], Any]) -> None:
        for attempt in range(_ATTEMPTS):
            job = self.load(job_id)
            decide(job)
            try:
                self.jobs.save(job)
            except VersionConflictError:
                if attempt == _ATTEMPTS - 1:
                    raise
                continue
            return
