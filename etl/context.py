"""What a running job knows about itself, shipped with its work to the Dask workers."""

from dataclasses import dataclass

from tuskflow.config.errors import ConfigError


@dataclass(frozen=True)
class JobContext:
    """The job's id and attempt, and the database its sinks may write to."""

    job_id: str
    attempt: int
    database_url: str | None

    def required_database(self, user: str) -> str:
        """The database URL, or a ConfigError saying that ``user`` (a sink) needs one."""
        if self.database_url is None:
            raise ConfigError(f"{user} needs a database: set TUSKFLOW_DATABASE_URL")
        return self.database_url
