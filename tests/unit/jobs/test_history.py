"""Job history on the in-memory store: the lifecycle rules each command enforces."""

import json

import pytest

from tuskflow.etl.errors import JobCancelledError
from tuskflow.eventstore.aggregate import AggregateRepository
from tuskflow.eventstore.memory import InMemoryEventStore
from tuskflow.jobs import job as lifecycle
from tuskflow.jobs.history import JobHistory, JobStateError
from tuskflow.jobs.job import Job, stream_of, summary


@pytest.fixture
def history() -> JobHistory:
    """A history over an empty in-memory store, with job j1 submitted."""
    history = JobHistory(InMemoryEventStore())
    history.submitted("j1", "daily sales", '{"version": 1}', "ana@host")
    return history


def kinds(history: JobHistory) -> list[str]:
    """The event types of j1's stream, in order."""
    return [event.event_type for event in history.store.read_stream(stream_of("j1"))]


def test_a_job_id_is_submitted_once(history: JobHistory) -> None:
    with pytest.raises(JobStateError, match="already submitted"):
        history.submitted("j1", "again", "{}", "ana@host")


def test_each_start_opens_the_next_attempt_until_the_job_ends(history: JobHistory) -> None:
    first = history.started("j1", "w1", "t1", partitions=4)
    second = history.started("j1", "w2", "t1", partitions=4)
    assert (first and first.attempt, second and second.attempt) == (1, 2)
    history.succeeded("j1", 2, {"rows_in": 10, "rows_out": 3, "rejected": 0, "output": "o"})
    assert history.started("j1", "w3", "t1", partitions=4) is None
    assert history.load("j1").status == "succeeded"


def test_progress_counts_each_partition_of_the_current_attempt_once(history: JobHistory) -> None:
    history.started("j1", "w1", "t1", partitions=3)
    history.partition_completed("j1", 1, 0, rows_in=100, rejected=1)
    history.partition_completed("j1", 1, 0, rows_in=100, rejected=1)
    history.started("j1", "w2", "t1", partitions=3)
    history.partition_completed("j1", 2, 2, rows_in=50, rejected=0)
    job = history.load("j1")
    assert (len(job.progress.partitions_done), job.progress.rows_in) == (1, 50)
    assert kinds(history).count("PartitionCompleted") == 2


def test_an_old_attempt_cannot_finish_the_job(history: JobHistory) -> None:
    history.started("j1", "w1", "t1", partitions=1)
    history.started("j1", "w2", "t1", partitions=1)
    history.failed("j1", 1, "worker lost")
    assert history.load("j1").status == "running"


def test_cancel_ends_a_running_job_and_refuses_a_finished_one(history: JobHistory) -> None:
    history.started("j1", "w1", "t1", partitions=1)
    history.cancel("j1", "by request")
    assert history.is_cancelled("j1")
    assert history.started("j1", "w2", "t1", partitions=1) is None
    with pytest.raises(JobStateError, match="already cancelled"):
        history.cancel("j1", "again")


def test_retry_reopens_only_failed_or_cancelled_jobs(history: JobHistory) -> None:
    with pytest.raises(JobStateError, match="only failed or cancelled"):
        history.retry("j1")
    history.started("j1", "w1", "t1", partitions=1)
    history.failed("j1", 1, "boom")
    history.retry("j1")
    again = history.started("j1", "w1", "t2", partitions=1)
    assert again is not None
    assert again.attempt == 2
    assert kinds(history) == ["JobSubmitted", "JobStarted", "JobFailed", "JobRetried", "JobStarted"]


def test_commands_on_an_unknown_job_name_it(history: JobHistory) -> None:
    with pytest.raises(JobStateError, match="no job nope"):
        history.cancel("nope", "why")
    with pytest.raises(JobStateError, match="never submitted"):
        history.started("nope", "w", "t", partitions=1)


def test_once_an_attempt_is_publishing_a_cancel_is_refused(history: JobHistory) -> None:
    history.started("j1", "w1", "t1", partitions=1)
    history.publishing("j1", 1)
    with pytest.raises(JobStateError, match="publishing its output"):
        history.cancel("j1", "too late")
    history.succeeded("j1", 1, {"rows_in": 1, "rows_out": 1, "rejected": 0, "output": "o"})
    assert history.load("j1").status == "succeeded"


def test_a_cancelled_job_may_not_publish(history: JobHistory) -> None:
    history.started("j1", "w1", "t1", partitions=1)
    history.cancel("j1", "by request")
    with pytest.raises(JobCancelledError):
        history.publishing("j1", 1)


def test_an_attempt_superseded_by_a_newer_one_may_not_publish(history: JobHistory) -> None:
    history.started("j1", "w1", "t1", partitions=1)
    history.started("j1", "w2", "t1", partitions=1)
    with pytest.raises(JobStateError, match="attempt 1 of job j1 is no longer current"):
        history.publishing("j1", 1)
    history.publishing("j1", 2)


def test_a_job_loaded_through_its_snapshot_equals_the_job_folded_from_every_event(
    history: JobHistory,
) -> None:
    history.started("j1", "w1", "t1", partitions=250)
    for index in range(250):
        history.partition_completed("j1", 1, index, rows_in=10, rejected=index % 2)
    history.publishing("j1", 1)  # a save past a multiple of 100: the job takes a snapshot
    history.succeeded("j1", 1, {"rows_in": 2500, "rows_out": 7, "rejected": 125, "output": "o"})
    folded = AggregateRepository(history.store, Job).load(stream_of("j1"))

    loaded = history.load("j1")

    snapshot = history.store.load_snapshot(stream_of("j1"))
    assert snapshot is not None
    assert snapshot.stream_version == loaded.version - 1
    assert loaded.snapshot_state() == folded.snapshot_state()
    assert (loaded.version, summary(loaded)) == (folded.version, summary(folded))


def test_a_snapshot_keeps_the_spec_keys_in_their_order() -> None:
    job = Job(stream_of("j2"))
    job.apply(lifecycle.SUBMITTED, {"name": "n", "spec_json": '{"z": 1, "a": {"y": 2, "b": 3}}'})
    restored = Job(stream_of("j2"))

    restored.restore(json.loads(json.dumps(job.snapshot_state(), sort_keys=True)))

    assert list(restored.spec) == ["z", "a"]
    assert list(restored.spec["a"]) == ["y", "b"]
