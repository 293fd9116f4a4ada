"""The Job aggregate: a job's lifecycle, folded from the events of its stream.

A job is submitted once, then each delivery of its task is an attempt: JobStarted, then
PartitionCompleted as partitions finish, then JobPublishing just before its output is made
visible, then JobSucceeded or JobFailed. JobCancelled ends it from outside, but not once an
attempt is publishing; JobRetried opens it to a new attempt after a failure or a cancel.
"""

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from tuskflow.eventstore.aggregate import Aggregate
from tuskflow.eventstore.records import JsonObject, NewEvent

Status = Literal["submitted", "running", "succeeded", "failed", "cancelled"]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})

SUBMITTED = "JobSubmitted"
STARTED = "JobStarted"
PARTITION_COMPLETED = "PartitionCompleted"
SUCCEEDED = "JobSucceeded"
FAILED = "JobFailed"
PUBLISHING = "JobPublishing"
CANCELLED = "JobCancelled"
RETRIED = "JobRetried"

STREAM_PREFIX = "job-"
_IDS = uuid.UUID("5d0f3c1e-8b7a-4e55-9a41-6f2f1b9c0a11")


def stream_of(job_id: str) -> str:
    """The stream holding a job's history."""
    return f"{STREAM_PREFIX}{job_id}"


def event_id(job_id: str, *parts: object) -> uuid.UUID:
    """A stable id for a job's event, so recording the same fact twice stores it once."""
    return uuid.uuid5(_IDS, "/".join([job_id, *map(str, parts)]))


def submitted_event(job_id: str, name: str, spec_json: str, submitted_by: str) -> NewEvent:
    """The first event of a job's stream, the same every time it is made for ``job_id``.

    The spec is kept as JSON text: jsonb reorders an object's keys, and a spec's key order
    carries meaning (an aggregate's output columns, an explicit schema's column order).
    """
    data = {"job_id": job_id, "name": name, "spec_json": spec_json, "submitted_by": submitted_by}
    return NewEvent(SUBMITTED, data, {}, event_id(job_id, "submitted"))


@dataclass
class Progress:
    """What the current attempt has done so far."""

    partitions_total: int = 0
    partitions_done: set[int] = field(default_factory=set)
    rows_in: int = 0
    rejected: int = 0


class Job(Aggregate):
    """One ETL job's state."""

    def __init__(self, stream_id: str) -> None:
        super().__init__(stream_id)
        self.job_id = stream_id.removeprefix(STREAM_PREFIX)
        self.name = ""
        self.spec: JsonObject = {}
        self.status: Status | None = None
        self.attempt = 0
        self.worker = ""
        self.task_id = ""
        self.progress = Progress()
        self.result: JsonObject = {}
        self.error = ""
        self.publishing = False

    @property
    def exists(self) -> bool:
        """Whether the job was ever submitted."""
        return self.status is not None

    @property
    def finished(self) -> bool:
        """Whether the job has ended (until a retry opens it again)."""
        return self.status in FINISHED

    def snapshot_state(self) -> JsonObject:
        """Every field of the state; the spec as JSON text, since jsonb would reorder its keys."""
        return {
            "name": self.name,
            "spec_json": json.dumps(self.spec),
            "status": self.status,
            "attempt": self.attempt,
            "worker": self.worker,
            "task_id": self.task_id,
            "partitions_total": self.progress.partitions_total,
            "partitions_done": sorted(self.progress.partitions_done),
            "rows_in": self.progress.rows_in,
            "rejected": self.progress.rejected,
            "result": dict(self.result),
            "error": self.error,
            "publishing": self.publishing,
        }

    def restore(self, state: JsonObject) -> None:
        """Set every field from ``snapshot_state`` output."""
        self.name, self.spec = state["name"], json.loads(state["spec_json"])
        self.status, self.attempt = state["status"], state["attempt"]
        self.worker, self.task_id = state["worker"], state["task_id"]
        self.progress = Progress(
            state["partitions_total"],
            set(state["partitions_done"]),
            state["rows_in"],
            state["rejected"],
        )
        self.result, self.error = state["result"], state["error"]
        self.publishing = state["publishing"]

    def apply(self, event_type: str, data: JsonObject) -> None:
        """Fold one event of the job's stream into its state."""
        handler = _HANDLERS.get(event_type)
        if handler is not None:
            getattr(self, handler)(data)

    def _submitted(self, data: JsonObject) -> None:
        self.name, self.status = data["name"], "submitted"
        self.spec = json.loads(data["spec_json"])

    def _started(self, data: JsonObject) -> None:
        self.status, self.attempt = "running", data["attempt"]
        self.worker, self.task_id = data["worker"], data["task_id"]
        self.progress = Progress(partitions_total=data["partitions"])
        self.publishing = False

    def _partition_completed(self, data: JsonObject) -> None:
        if data["attempt"] == self.attempt and data["index"] not in self.progress.partitions_done:
            self.progress.partitions_done.add(data["index"])
            self.progress.rows_in += data["rows_in"]
            self.progress.rejected += data["rejected"]

    def _publishing(self, data: JsonObject) -> None:
        self.publishing = data["attempt"] == self.attempt

    def _succeeded(self, data: JsonObject) -> None:
        self.status, self.result, self.error = "succeeded", data, ""

    def _failed(self, data: JsonObject) -> None:
        self.status, self.error = "failed", data["error"]

    def _cancelled(self, data: JsonObject) -> None:
        self.status, self.error = "cancelled", data.get("reason", "")

    def _retried(self, data: JsonObject) -> None:
        self.status, self.error, self.result = "submitted", "", {}
        self.publishing = False


_HANDLERS = {
    SUBMITTED: "_submitted",
    STARTED: "_started",
    PARTITION_COMPLETED: "_partition_completed",
    PUBLISHING: "_publishing",
    SUCCEEDED: "_succeeded",
    FAILED: "_failed",
    CANCELLED: "_cancelled",
    RETRIED: "_retried",
}


def summary(job: Job) -> dict[str, Any]:
    """The job's state as plain JSON, for the CLI and the submit API."""
    return {
        "job_id": job.job_id,
        "name": job.name,
        "status": job.status,
        "attempt": job.attempt,
        "worker": job.worker,
        "partitions_done": len(job.progress.partitions_done),
        "partitions_total": job.progress.partitions_total,
        "rows_in": job.progress.rows_in,
        "rejected": job.progress.rejected,
        "result": dict(job.result),
        "error": job.error,
    }
