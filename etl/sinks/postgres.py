"""The PostgreSQL sink: COPY into an UNLOGGED staging table, publish in one transaction.

Each attempt stages into a table of its own, ``<table>__tf_<hash of job id>_<attempt>_<nonce>``
in the target's schema (see _tables). prepare() drops the job's other staging tables and
creates this attempt's with the partition index and the row's place in it; writes add the
partitions' columns. A write of partition i holds a lock on (staging, i) while it deletes the
rows an earlier try of i staged and COPYs its own (one transaction), so two tries of i at once
cannot both land; a write whose staging table is gone fails. Publish keeps the job's row order.
It claims the job in the ledger ``tuskflow_etl_loads`` first, in the same transaction as the
load: a rerun of a job that created or appended is a no-op, and two publishers of one job
cannot both append (the second waits on the first's ledger row).

``replace`` drops the old table and creates the new one in that transaction: a reader sees the
old rows or the new ones (a snapshot older than the publish, REPEATABLE READ, sees the new table
empty, as with TRUNCATE). Grants, indexes and views on a replaced table are not carried over.
"""

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from psycopg import sql

from tuskflow.etl.arrow_types import type_name_of
from tuskflow.etl.context import JobContext
from tuskflow.etl.errors import SinkConflictError, SinkError
from tuskflow.etl.sinks._staging import new_nonce
from tuskflow.etl.sinks._tables import (
    connected,
    drop_other_staging,
    lock,
    staging_name,
    table_exists,
)
from tuskflow.etl.spec import PostgresSink

LEDGER = "tuskflow_etl_loads"
PG_TYPES: dict[str, str] = {
    "string": "text",
    "int": "bigint",
    "float": "double precision",
    "bool": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}
_PART = "__tf_part"
_SEQ = "__tf_seq"
_COPY_ROWS = 65536

Connection = psycopg.Connection[Any]
Mode = Literal["create", "append", "replace"]

_SCHEMA = (
    "SELECT coalesce(%s::text, (SELECT n.nspname FROM pg_class c JOIN pg_namespace n"
    " ON n.oid = c.relnamespace WHERE c.oid = to_regclass(format('%%I', %s::text))),"
    " current_schema())"
)
_COLUMNS = (
    "SELECT attname FROM pg_attribute"
    " WHERE attrelid = to_regclass(format('%%I.%%I', %s::text, %s::text))"
    " AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
)


@dataclass(frozen=True)
class _Names:
    """The target's schema and the tables this job touches in it."""

    schema: str
    table: str
    staging: str

    def of(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    @property
    def location(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass(frozen=True)
class PostgresWriter:
    """Stages partitions by COPY into an UNLOGGED table and loads them in one transaction."""

    database_url: str
    schema: str | None
    table: str
    mode: Mode
    job_id: str
    attempt: int
    nonce: str = field(default_factory=new_nonce)

    @classmethod
    def of(cls, spec: PostgresSink, job: JobContext) -> "PostgresWriter":
        """The writer for a spec's sink and a job."""
        database_url = job.required_database(f"the postgres sink of table {spec.table}")
        schema, _, table = spec.table.rpartition(".")
        return cls(database_url, schema or None, table, spec.mode, job.job_id, job.attempt)

    @property
    def staging_table(self) -> str:
        """This attempt's staging table, within PostgreSQL's 63-byte identifier limit."""
        return staging_name(self.table, self.job_id, self.attempt, self.nonce)

    def prepare(self) -> None:
        """Drop the job's other staging, create this attempt's; refuse a table create would meet."""
        with self._connect("prepare") as conn:
            names = self._names(conn)
            drop_other_staging(conn, names.schema, self.job_id, names.staging)
            _create_staging(conn, names)
            if (
                self.mode == "create"
                and table_exists(conn, names.schema, names.table)
                and not self._loaded(conn, names)
            ):
                raise _table_exists(names)

    def write(self, index: int, table: pa.Table) -> int:
        """COPY one partition into staging, replacing the rows an earlier try of it staged."""
        table = _normalised(table)
        with self._connect(f"stage partition {index} of") as conn:
            names = self._names(conn)
            _add_columns(conn, names, table.schema)
            try:
                _replace_partition(conn, names, index, table)
            except psycopg.errors.UndefinedTable as exc:  # dropped since _add_columns looked
                raise _no_staging(names) from exc
        return int(table.num_rows)

    def publish(self) -> str:
        """Load staging into the target by the spec's mode, in one transaction with the ledger."""
        with self._connect("publish") as conn:
            names = self._names(conn)
            _ensure_ledger(conn, names)
            with conn.transaction():
                claimed = self._claim(conn, names)
                if claimed or self.mode == "replace":
                    rows = self._load(conn, names)
                    self._record(conn, names, rows)
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(names.of(names.staging)))
        return names.location

    def discard(self) -> None:
        """Drop the staging table; the target stays as it was."""
        with self._connect("discard the staging of") as conn:
            names = self._names(conn)
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(names.of(names.staging)))

    def _connect(self, doing: str) -> AbstractContextManager[Connection]:
        where = f"{self.schema}.{self.table}" if self.schema else self.table
        advice = (
            "check that PostgreSQL (TUSKFLOW_DATABASE_URL) is up and the role may create tables"
            " in that schema"
        )
        return connected(self.database_url, f"{doing} table {where}", advice)

    def _names(self, conn: Connection) -> _Names:
        row = conn.execute(_SCHEMA, [self.schema, self.table]).fetchone()
        if row is None or row[0] is None:
            raise SinkConflictError(
                f"table {self.table} has no schema to go in: the search_path names no existing "
                "schema; qualify the table as schema.table"
            )
        return _Names(row[0], self.table, self.staging_table)

    def _loaded(self, conn: Connection, names: _Names) -> bool:
        if not table_exists(conn, names.schema, LEDGER):
            return False
        found = conn.execute(
            sql.SQL("SELECT 1 FROM {} WHERE job_id = %s AND target = %s").format(names.of(LEDGER)),
            [self.job_id, names.location],
        ).fetchone()
        return found is not None

    def _claim(self, conn: Connection, names: _Names) -> bool:
        """Insert this job's ledger row; False when it loaded this target before."""
        claimed = conn.execute(
            sql.SQL(
                "INSERT INTO {} (job_id, target, rows) VALUES (%s, %s, 0)"
                " ON CONFLICT (job_id, target) DO NOTHING RETURNING 1"
            ).format(names.of(LEDGER)),
            [self.job_id, names.location],
        ).fetchone()
        return claimed is not None

    def _record(self, conn: Connection, names: _Names, rows: int) -> None:
        conn.execute(
            sql.SQL(
                "UPDATE {} SET rows = %s, loaded_at = now() WHERE job_id = %s AND target = %s"
            ).format(names.of(LEDGER)),
            [rows, self.job_id, names.location],
        )

    def _load(self, conn: Connection, names: _Names) -> int:
        staged = _column_names(conn, names.schema, names.staging)
        user_columns = [name for name in staged if name not in (_PART, _SEQ)]
        if not user_columns:
            raise SinkError(
                f"nothing was staged for table {names.location} (staging table {names.staging} "
                "is missing or no partition was written); run the job again"
            )
        columns = sql.SQL(", ").join(sql.Identifier(name) for name in user_columns)
        exists = table_exists(conn, names.schema, names.table)
        if exists and self.mode == "create":
            raise _table_exists(names)
        if exists and self.mode == "replace":
            conn.execute(sql.SQL("DROP TABLE {}").format(names.of(names.table)))
        if exists and self.mode == "append":
            statement = sql.SQL("INSERT INTO {} ({}) ").format(names.of(names.table), columns)
        else:
            statement = sql.SQL("CREATE TABLE {} AS ").format(names.of(names.table))
        select = sql.SQL("SELECT {} FROM {} ORDER BY {}, {}").format(
            columns, names.of(names.staging), sql.Identifier(_PART), sql.Identifier(_SEQ)
        )
        return conn.execute(statement + select).rowcount


def _table_exists(names: _Names) -> SinkConflictError:
    return SinkConflictError(
        f"table {names.location} exists and the sink's mode is create, which never overwrites; "
        "drop the table, or set mode to replace or append"
    )


def _ensure_ledger(conn: Connection, names: _Names) -> None:
    """Create the ledger in the target's schema if missing, in a transaction of its own."""
    if not table_exists(conn, names.schema, LEDGER):
        # Two first publishes at once would otherwise both try to create it, and one fail.
        lock(conn, f"{names.schema}.{LEDGER}")
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (job_id text NOT NULL, target text NOT NULL,"
                " rows bigint NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now(),"
                " PRIMARY KEY (job_id, target))"
            ).format(names.of(LEDGER))
        )
    conn.commit()


def _create_staging(conn: Connection, names: _Names) -> None:
    """A fresh staging table holding just the position columns; writes add theirs."""
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(names.of(names.staging)))
    conn.execute(
        sql.SQL("CREATE UNLOGGED TABLE {} ({} integer NOT NULL, {} bigint NOT NULL)").format(
            names.of(names.staging), sql.Identifier(_PART), sql.Identifier(_SEQ)
        )
    )


def _add_columns(conn: Connection, names: _Names, schema: pa.Schema) -> None:
    """Give staging the partition's columns it lacks, in a transaction of its own.

    Only prepare() creates the staging table, so a straggling task of a finished attempt, or
    of one a later attempt replaced, fails here instead of leaving a table behind.
    """
    staged = _column_names(conn, names.schema, names.staging)
    if not staged:
        raise _no_staging(names)
    if any(column.name not in staged for column in schema):
        # Partitions written at once would otherwise race to add the same columns.
        lock(conn, f"{names.schema}.{names.staging}")
        staged = _column_names(conn, names.schema, names.staging)
        additions = [
            sql.SQL("ADD COLUMN IF NOT EXISTS {} {}").format(
                sql.Identifier(column.name), sql.SQL(PG_TYPES[type_name_of(column.type)])
            )
            for column in schema
            if column.name not in staged
        ]
        if additions:
            conn.execute(
                sql.SQL("ALTER TABLE {} {}").format(
                    names.of(names.staging), sql.SQL(", ").join(additions)
                )
            )
    conn.commit()


def _no_staging(names: _Names) -> SinkError:
    return SinkError(
        f"no staging table {names.staging} for table {names.location}: prepare() did not "
        "run, the job has ended, or a later attempt of it replaced this one"
    )


def _replace_partition(conn: Connection, names: _Names, index: int, table: pa.Table) -> None:
    """Delete what an earlier try of partition ``index`` staged and COPY it, in one transaction."""
    with conn.transaction():
        # A second try of this partition running at once (a worker Dask thought lost) waits
        # here, then deletes what the first staged: READ COMMITTED would let both delete
        # nothing and both COPY.
        lock(conn, f"{names.schema}.{names.staging}:{index}")
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE {} = %s").format(
                names.of(names.staging), sql.Identifier(_PART)
            ),
            [index],
        )
        _copy(conn, names, _with_position(table, index))


def _column_names(conn: Connection, schema: str, table: str) -> list[str]:
    """A table's columns in order; none when it does not exist."""
    return [row[0] for row in conn.execute(_COLUMNS, [schema, table])]


def _copy(conn: Connection, names: _Names, table: pa.Table) -> None:
    """COPY a table in as CSV, which arrow writes in C++ and PostgreSQL reads fastest as text."""
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in table.column_names)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        names.of(names.staging), columns
    )
    options = pa_csv.WriteOptions(include_header=False)
    with conn.cursor().copy(statement) as copy:
        for batch in table.to_batches(max_chunksize=_COPY_ROWS):
            sink = pa.BufferOutputStream()
            pa_csv.write_csv(batch, sink, write_options=options)
            copy.write(sink.getvalue().to_pybytes())


def _with_position(table: pa.Table, index: int) -> pa.Table:
    rows = table.num_rows
    table = table.append_column(_PART, pa.array([index] * rows, pa.int32()))
    return table.append_column(_SEQ, pa.array(range(rows), pa.int64()))


def _normalised(table: pa.Table) -> pa.Table:
    """Columns as COPY reads them: dictionaries decoded, nulls as text, timestamps in UTC."""
    return pa.table(
        [_plain(column) for column in table.columns],
        names=table.column_names,
    )


def _plain(column: Any) -> Any:
    kind = column.type
    if pa.types.is_dictionary(kind):
        return _plain(pc.cast(column, kind.value_type))
    if pa.types.is_null(kind):
        return pc.cast(column, pa.large_string())
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        # The column's type is timestamp without time zone: store the UTC wall time, which
        # arrow holds; written with its zone, PostgreSQL would silently drop the offset.
        return pc.cast(column, pa.timestamp(kind.unit))
    return column
