"""Helpers the sinks that stage in PostgreSQL share: per-attempt staging tables and locks.

Each attempt of a job stages into an UNLOGGED table of its own, named
``<readable part>__tf_<hash of job id>_<attempt>_<nonce>``. A pool process killed mid-job leaves
Dask running its attempt's write tasks while the next attempt starts: they write into their own
attempt's table, which the next attempt's prepare() drops, so they then fail instead of adding
rows to the staging the next attempt publishes. Only prepare() creates a staging table.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from tuskflow.config.database import classify, connect
from tuskflow.config.errors import DatabaseUnavailableError, RetryableError, TuskflowError
from tuskflow.etl.errors import SinkConflictError, SinkError
from tuskflow.etl.sinks._staging import short_hash

Connection = psycopg.Connection[Any]

IDENTIFIER_BYTES = 63
_INFIX = "__tf_"
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
# Staging tables of one job in a schema, this version's names and the older one's (no attempt).
_JOB_STAGING = (
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = %s AND c.relkind = 'r' AND c.relpersistence = 'u'"
    " AND c.relname ~ %s AND c.relname <> %s ORDER BY c.relname"
)


def staging_name(readable: str, job_id: str, attempt: int, nonce: str) -> str:
    """An attempt's staging table name, cut to PostgreSQL's 63-byte identifier limit."""
    suffix = f"{_INFIX}{short_hash(job_id)}_{attempt}_{nonce}"
    return fit(readable, IDENTIFIER_BYTES - len(suffix.encode())) + suffix


def fit(text: str, budget: int) -> str:
    """The longest start of ``text`` within ``budget`` UTF-8 bytes, never half a character."""
    return text.encode()[: max(budget, 0)].decode(errors="ignore")


def drop_other_staging(conn: Connection, schema: str, job_id: str, keep: str) -> list[str]:
    """Drop every staging table of ``job_id`` in ``schema`` except ``keep``; the ones dropped."""
    pattern = f"{_INFIX}{short_hash(job_id)}(_[0-9]+_[0-9a-f]+)?$"
    names = [row[0] for row in conn.execute(_JOB_STAGING, [schema, pattern, keep])]
    for name in names:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, name)))
    return names


def lock(conn: Connection, key: str) -> None:
    """Hold a lock named ``key`` until the current transaction ends."""
    conn.execute(_LOCK, [f"tuskflow-etl:{key}"])


def table_exists(conn: Connection, schema: str, name: str) -> bool:
    """True when ``schema.name`` is a table or view."""
    row = conn.execute(
        "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL", [schema, name]
    ).fetchone()
    return bool(row and row[0])


@contextmanager
def connected(database_url: str, doing: str, advice: str) -> Iterator[Connection]:
    """A connection in a transaction committed at the end of the block.

    A database error becomes SinkError (an outage or a race: retryable) or SinkConflictError
    (the database refused the statement: permanent), saying what failed and what to do.
    """
    try:
        with connect(database_url, "etl-sink", autocommit=False) as conn:
            yield conn
    except psycopg.Error as exc:
        raise _sink_error(classify(exc, database_url), doing, advice) from exc
    except DatabaseUnavailableError as exc:
        raise _sink_error(exc, doing, advice) from exc


def _sink_error(
    cause: TuskflowError | None, doing: str, advice: str
) -> SinkError | SinkConflictError:
    message = f"could not {doing}: {cause}; {advice}, then run the job again"
    if isinstance(cause, RetryableError):
        return SinkError(message)
    return SinkConflictError(message)
