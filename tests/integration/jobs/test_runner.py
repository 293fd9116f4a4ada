"""run_attempt itself, without Celery: the in-memory event store for the job's history, a
local Dask client, and the real PostgreSQL for the attempt's lease and rejects."""

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from distributed import Client

from tuskflow.etl.context import JobContext
from tuskflow.etl.errors import JobCancelledError, JobFailedError
from tuskflow.etl.rejects import load_rejects
from tuskflow.etl.spec import parse_spec, spec_json
from tuskflow.eventstore.memory import InMemoryEventStore
from tuskflow.jobs.history import JobHistory
from tuskflow.jobs.job import stream_of
from tuskflow.jobs.runner import Runner, run_attempt

JOB = "job-under-test"
RUNNER = Runner(worker="worker-1@test", task_id="task-1", lease_s=30.0)
# One file per partition: three partitions, each told to the history as it completes.
FILES = {"a.csv": ["north,1", "south,2"], "b.csv": ["north,3"], "c.csv": ["south,4", "east,5"]}


class CancelledAfterFirstPartition(JobHistory):
    """A history whose job is cancelled, as by a user, once its first partition is recorded."""

    def partition_completed(
        self, job_id: str, attempt: int, index: int, rows_in: int, rejected: int
    ) -> None:
        """Record the partition, then cancel the job unless it has ended."""
        super().partition_completed(job_id, attempt, index, rows_in, rejected)
        if not self.load(job_id).finished:
            self.cancel(job_id, "cancelled by the test")


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """A client of an in-process Dask cluster of one single-thread worker."""
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as dask:
        yield dask


def write_sales(folder: Path, bad_quantity: str | None = None) -> Path:
    """The sales files in a folder; ``bad_quantity`` replaces b.csv's quantity."""
    folder.mkdir()
    files = dict(FILES)
    if bad_quantity is not None:
        files["b.csv"] = [f"north,{bad_quantity}"]
    for name, rows in files.items():
        (folder / name).write_text("region,quantity\n" + "\n".join(rows) + "\n")
    return folder


def submit(history: JobHistory, source: Path, output: Path, max_share: float = 0.0) -> None:
    """Record the job: quantities summed by region from the folder into a CSV file."""
    spec = parse_spec(
        {
            "version": 1,
            "name": "quantity by region",
            "source": {
                "format": "csv",
                "path": str(source),
                "columns": {"region": "string", "quantity": "int"},
            },
            "transforms": [
                {
                    "op": "aggregate",
                    "by": ["region"],
                    "aggregations": {"total": {"fn": "sum", "column": "quantity"}},
                },
                {"op": "sort", "by": ["region"]},
            ],
            "sink": {"kind": "csv", "path": str(output)},
            "rejects": {"max_share": max_share},
        }
    )
    history.submitted(JOB, spec.name, spec_json(spec), "test@host")


def attempt(history: JobHistory, client: Client, database_url: str) -> Any:
    """One attempt at the job, as the Celery task makes it (not the final one)."""
    return run_attempt(
        history,
        JOB,
        runner=RUNNER,
        client=client,
        context=lambda number: JobContext(JOB, number, database_url),
        final=False,
    )


def kinds(history: JobHistory) -> list[str]:
    """The job stream's event types, in order."""
    return [event.event_type for event in history.store.read_stream(stream_of(JOB))]


def leases(database_url: str) -> list[tuple[Any, ...]]:
    """The job leases PostgreSQL holds."""
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT job_id, attempt FROM job_leases").fetchall()


def test_a_successful_attempt_records_its_events_in_order_and_publishes_its_output(
    client: Client, migrated_url: str, tmp_path: Path
) -> None:
    history = JobHistory(InMemoryEventStore())
    output = tmp_path / "totals.csv"
    submit(history, write_sales(tmp_path / "sales"), output)

    result = attempt(history, client, migrated_url)

    assert kinds(history) == [
        "JobSubmitted",
        "JobStarted",
        *["PartitionCompleted"] * len(FILES),
        "JobPublishing",
        "JobSucceeded",
    ]
    assert (result.rows_in, result.rows_out, result.rejected) == (5, 3, 0)
    assert result.output == str(output)
    with output.open(newline="") as published:
        assert list(csv.reader(published)) == [
            ["region", "total"],
            ["east", "5"],
            ["north", "4"],
            ["south", "6"],
        ]
    job = history.load(JOB)
    assert (job.status, job.attempt, job.result["rows_out"]) == ("succeeded", 1, 3)
    assert leases(migrated_url) == []


def test_an_attempt_over_its_reject_policy_records_job_failed_and_publishes_nothing(
    client: Client, migrated_url: str, tmp_path: Path
) -> None:
    history = JobHistory(InMemoryEventStore())
    output = tmp_path / "totals.csv"
    submit(history, write_sales(tmp_path / "sales", bad_quantity="many"), output, max_share=0.1)

    with pytest.raises(JobFailedError):
        attempt(history, client, migrated_url)

    assert kinds(history) == [
        "JobSubmitted",
        "JobStarted",
        *["PartitionCompleted"] * len(FILES),
        "JobFailed",
    ]
    assert history.load(JOB).status == "failed"
    assert not output.exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "sales"]  # no staging left either
    total, rows = load_rejects(migrated_url, JOB, 1, limit=10)
    assert total == 1
    assert (Path(rows[0]["source_file"]).name, rows[0]["row"]) == ("b.csv", 1)
    assert leases(migrated_url) == []


def test_a_job_cancelled_while_its_attempt_runs_publishes_nothing(
    client: Client, migrated_url: str, tmp_path: Path
) -> None:
    history = CancelledAfterFirstPartition(InMemoryEventStore())
    output = tmp_path / "totals.csv"
    submit(history, write_sales(tmp_path / "sales"), output)

    with pytest.raises(JobCancelledError):
        attempt(history, client, migrated_url)

    assert kinds(history)[:4] == [
        "JobSubmitted",
        "JobStarted",
        "PartitionCompleted",
        "JobCancelled",
    ]
    assert "JobPublishing" not in kinds(history)
    assert "JobSucceeded" not in kinds(history)
    assert history.load(JOB).status == "cancelled"
    assert not output.exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "sales"]
    assert leases(migrated_url) == []


def test_a_job_cancelled_before_its_attempt_is_not_run(
    client: Client, migrated_url: str, tmp_path: Path
) -> None:
    history = JobHistory(InMemoryEventStore())
    output = tmp_path / "totals.csv"
    submit(history, write_sales(tmp_path / "sales"), output)
    history.cancel(JOB, "cancelled while queued")

    assert attempt(history, client, migrated_url) is None

    assert kinds(history) == ["JobSubmitted", "JobCancelled"]
    assert not output.exists()
