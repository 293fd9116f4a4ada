"""The jobs read model: one row per job, what `tuskflow jobs list` shows."""

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tuskflow.eventstore.records import RecordedEvent
from tuskflow.jobs import job as lifecycle

Connection = psycopg.Connection[Any]

_COLUMNS = (
    "job_id text PRIMARY KEY, name text NOT NULL, status text NOT NULL,"
    " attempt int NOT NULL DEFAULT 0, worker text NOT NULL DEFAULT '',"
    " partitions_done int NOT NULL DEFAULT 0, partitions_total int NOT NULL DEFAULT 0,"
    " rows_in bigint NOT NULL DEFAULT 0, rows_out bigint, rejected bigint NOT NULL DEFAULT 0,"
    " output text, error text NOT NULL DEFAULT '',"
    " submitted_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,"
    " started_at timestamptz, finished_at timestamptz"
)
# A read model made before started_at and finished_at existed gets them (empty until a replay).
_ADDED_COLUMNS = (
    "ALTER TABLE projection_jobs ADD COLUMN IF NOT EXISTS started_at timestamptz,"
    " ADD COLUMN IF NOT EXISTS finished_at timestamptz"
)

_STATEMENTS: dict[str, str] = {
    lifecycle.SUBMITTED: "INSERT INTO projection_jobs (job_id, name, status, submitted_at,"
    " updated_at) VALUES (%(job)s, %(name)s, 'submitted', %(at)s, %(at)s)"
    " ON CONFLICT (job_id) DO NOTHING",
    lifecycle.STARTED: "UPDATE projection_jobs SET status = 'running', attempt = %(attempt)s,"
    " worker = %(worker)s, partitions_total = %(partitions)s, partitions_done = 0, rows_in = 0,"
    " rejected = 0, error = '', updated_at = %(at)s, started_at = %(at)s, finished_at = NULL"
    " WHERE job_id = %(job)s",
    lifecycle.PARTITION_COMPLETED: "UPDATE projection_jobs SET"
    " partitions_done = partitions_done + 1, rows_in = rows_in + %(rows_in)s,"
    " rejected = rejected + %(rejected)s, updated_at = %(at)s"
    " WHERE job_id = %(job)s AND attempt = %(attempt)s",
    lifecycle.SUCCEEDED: "UPDATE projection_jobs SET status = 'succeeded',"
    " rows_in = %(rows_in)s, rows_out = %(rows_out)s, rejected = %(rejected)s,"
    " output = %(output)s, updated_at = %(at)s, finished_at = %(at)s WHERE job_id = %(job)s",
    lifecycle.FAILED: "UPDATE projection_jobs SET status = 'failed', error = %(error)s,"
    " updated_at = %(at)s, finished_at = %(at)s WHERE job_id = %(job)s",
    lifecycle.CANCELLED: "UPDATE projection_jobs SET status = 'cancelled', error = %(reason)s,"
    " updated_at = %(at)s, finished_at = %(at)s WHERE job_id = %(job)s",
    lifecycle.RETRIED: "UPDATE projection_jobs SET status = 'submitted', error = '',"
    " updated_at = %(at)s WHERE job_id = %(job)s",
}


class JobsProjection:
    """Folds the job streams' events into ``projection_jobs``."""

    name = "jobs"
    table = "projection_jobs"
    category = lifecycle.STREAM_PREFIX

    def setup(self, conn: Connection) -> None:
        """Create the read model table."""
        conn.execute(f"CREATE TABLE IF NOT EXISTS projection_jobs ({_COLUMNS})")
        # Looked up first: ALTER TABLE locks the table out even when it changes nothing.
        present = conn.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND table_name = 'projection_jobs'"
            " AND column_name IN ('started_at', 'finished_at')"
        ).fetchone()
        if present is None or present[0] < 2:
            conn.execute(_ADDED_COLUMNS)

    def reset(self, conn: Connection) -> None:
        """Empty the read model."""
        conn.execute("DELETE FROM projection_jobs")

    def apply(self, conn: Connection, events: list[RecordedEvent]) -> None:
        """Apply each job event of the page in order."""
        with conn.cursor() as cursor:
            for event in events:
                statement = _STATEMENTS.get(event.event_type)
                if statement is None:
                    continue
                params = {
                    "rows_in": 0,
                    "rows_out": None,
                    "rejected": 0,
                    "output": None,
                    "reason": "",
                    "error": "",
                    **event.data,
                    "job": event.stream_id.removeprefix(lifecycle.STREAM_PREFIX),
                    "at": event.recorded_at,
                }
                cursor.execute(statement, {k: _param(v) for k, v in params.items()})


def latest_jobs(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` jobs, newest first, each a dict: id, name, status, attempt,
    partitions done and total, rows in and out, rejected, output or error, submitted at."""
    cursor = conn.cursor(row_factory=dict_row)
    return cursor.execute(
        "SELECT job_id, name, status, attempt, partitions_done, partitions_total, rows_in,"
        " rows_out, rejected, coalesce(output, error) AS output_or_error, submitted_at"
        " FROM projection_jobs ORDER BY submitted_at DESC LIMIT %s",
        [limit],
    ).fetchall()


def job_ids_starting(conn: Connection, prefix: str) -> list[str]:
    """The ids of the known jobs that begin with ``prefix``, in order."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = conn.execute(
        "SELECT job_id FROM projection_jobs WHERE job_id LIKE %s ORDER BY job_id LIMIT 100",
        [escaped + "%"],
    ).fetchall()
    return [str(job_id) for (job_id,) in rows]


def _param(value: object) -> object:
    return Jsonb(value) if isinstance(value, dict | list) else value
