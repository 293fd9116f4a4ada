"""What a running job knows about itself, shipped with its work to the Dask workers."""

from dataclasses import dataclass


@dataclass(frozen=True)
class JobContext:
    """The job's id and attempt, and the database its sinks may write to."""

    job_id: str
    attempt: int
    database_url: str | None
