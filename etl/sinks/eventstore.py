"""The event-store sink: each row becomes an event, all appended in one transaction at publish.

Workers evaluate the stream id and encode each row as JSON, and COPY both, with the partition
index and the row's place in it, into an UNLOGGED staging table of the job attempt in the event
store's schema (``tuskflow_etl_events__tf_<hash of job id>_<attempt>_<nonce>``, see _tables), so
that every host of a Dask cluster stages where the driver publishes. prepare() drops the job's
other staging tables; a write whose staging table is gone fails. Publish reads the staged rows
in one transaction and appends them through the store's batch port (append_batches: one
transaction of the store, all or nothing), so readers see all of the job's events or none; then
it drops the staging table. Should that drop fail after the events committed, publishing again
appends only duplicates, and the next attempt's prepare() drops the table. An event's id is
uuid5(EVENT_ID_NAMESPACE, "<job_id>/<partition index>/<row, 0-based>"): a rerun of the job
stores nothing new, its events are duplicates of the first run's.
"""

import datetime
import json
import math
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql

from tuskflow.config.database import configure
from tuskflow.config.errors import (
    DatabaseRefusedError,
    DatabaseUnavailableError,
    TransientConflictError,
)
from tuskflow.etl import expressions
from tuskflow.etl.context import JobContext
from tuskflow.etl.errors import JobFailedError, SinkConflictError, SinkError
from tuskflow.etl.sinks._staging import new_nonce
from tuskflow.etl.sinks._tables import (
    connected,
    drop_other_staging,
    lock,
    staging_name,
    table_exists,
)
from tuskflow.etl.spec import EventStoreSink
from tuskflow.eventstore.batch_store import BatchStore, PreparedBatch
from tuskflow.eventstore.errors import InvalidEventError, RejectedEventsError
from tuskflow.eventstore.ids import stable_ids
from tuskflow.eventstore.postgres.store import PostgresEventStore
from tuskflow.eventstore.records import NewEvent
from tuskflow.eventstore.validation import DEFAULT_MAX_EVENT_BYTES, PreparedEvent, prepare

EVENT_ID_NAMESPACE = uuid.UUID("a0825e3d-bbd1-4ba1-98f4-58e2d40bc18a")
_row_event_id = stable_ids(EVENT_ID_NAMESPACE)
PRODUCER = "tuskflow-etl"
STAGING_PREFIX = "tuskflow_etl_events"
# Compact and strict (no NaN), as the store encodes; non-JSON values (Decimal) become text.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str)
_APPEND_ROWS = 10_000
_STORE_ERRORS = (DatabaseUnavailableError, TransientConflictError, DatabaseRefusedError)
_STAGED = "SELECT part, seq, stream_id, data FROM {} ORDER BY part, seq"

Connection = psycopg.Connection[Any]
_Staged = tuple[int, int, str, str]  # partition index, row in it, stream id, data as JSON


@dataclass(frozen=True)
class EventStoreWriter:
    """Stages rows as events per partition and appends them all at publish; see the module doc."""

    database_url: str
    stream_id: str
    event_type: str
    job_id: str
    attempt: int
    nonce: str = field(default_factory=new_nonce)
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES

    @classmethod
    def of(cls, spec: EventStoreSink, job: JobContext) -> "EventStoreWriter":
        """The writer for a spec's sink and a job."""
        database_url = job.required_database(f"the eventstore sink of {spec.event_type} events")
        return cls(database_url, spec.stream_id, spec.event_type, job.job_id, job.attempt)

    @property
    def target(self) -> str:
        """How messages name this sink's output."""
        return f"the event store ({self.event_type} events)"

    @property
    def staging_table(self) -> str:
        """This attempt's staging table, in the event store's schema."""
        return staging_name(STAGING_PREFIX, self.job_id, self.attempt, self.nonce)

    def prepare(self) -> None:
        """Drop what earlier attempts of this job staged, and create this attempt's table."""
        with self._connect("prepare events for") as conn:
            schema = _schema(conn)
            drop_other_staging(conn, schema, self.job_id, self.staging_table)
            staging = sql.Identifier(schema, self.staging_table)
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(staging))
            conn.execute(
                sql.SQL(
                    "CREATE UNLOGGED TABLE {} (part integer NOT NULL, seq bigint NOT NULL,"
                    " stream_id text NOT NULL, data text NOT NULL)"
                ).format(staging)
            )

    def write(self, index: int, table: pa.Table) -> int:
        """Stage one partition's rows as (stream id, JSON data), replacing an earlier try."""
        streams = _stream_ids(expressions.evaluate(expressions.parse(self.stream_id), table))
        rows = [
            {name: _json_value(value) for name, value in row.items()} for row in table.to_pylist()
        ]
        texts = [_ENCODER.encode(row) for row in rows]
        # A row that cannot be an event fails its partition here, not the publish at the end.
        prepared = [
            self._prepared(index, row, stream, data, text)
            for row, (stream, data, text) in enumerate(zip(streams, rows, texts, strict=True))
        ]
        with self._connect(f"stage partition {index} of events for") as conn:
            schema = _schema(conn)
            try:
                self._replace_partition(conn, schema, index, prepared)
            except psycopg.errors.UndefinedTable as exc:
                raise self._no_staging() from exc
        return int(table.num_rows)

    def publish(self) -> str:
        """Append every staged event at once (stored ones skip), then drop staging."""
        with self._connect("append the staged events to") as conn:
            configure(conn)
            schema = _schema(conn)
            if not table_exists(conn, schema, self.staging_table):
                raise self._no_staging()
            staging = sql.Identifier(schema, self.staging_table)
            with conn.transaction():
                streams = self._append_all(conn, staging)
                conn.execute(sql.SQL("DROP TABLE {}").format(staging))
        return f"eventstore:{self.event_type} in {len(streams)} streams"

    def discard(self) -> None:
        """Drop this attempt's staging table; nothing was appended."""
        with self._connect("remove the staged events for") as conn:
            staging = sql.Identifier(_schema(conn), self.staging_table)
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(staging))

    def _connect(self, doing: str) -> AbstractContextManager[Connection]:
        advice = (
            "check that PostgreSQL (TUSKFLOW_DATABASE_URL) is up and its event store migrated"
            " (`tuskflow db migrate`)"
        )
        return connected(self.database_url, f"{doing} {self.target}", advice)

    def _no_staging(self) -> SinkError:
        return SinkError(
            f"no staging table {self.staging_table} for {self.target}: prepare() did not run, "
            "the job has ended, or a later attempt of it replaced this one"
        )

    def _replace_partition(
        self, conn: Connection, schema: str, index: int, prepared: list[PreparedEvent]
    ) -> None:
        """Delete what an earlier try of partition ``index`` staged and COPY it, at once."""
        staging = sql.Identifier(schema, self.staging_table)
        with conn.transaction():
            # Two tries of one partition at once would otherwise both delete nothing and both
            # COPY: the second waits here and deletes what the first staged.
            lock(conn, f"{schema}.{self.staging_table}:{index}")
            conn.execute(sql.SQL("DELETE FROM {} WHERE part = %s").format(staging), [index])
            copy_rows = sql.SQL("COPY {} (part, seq, stream_id, data) FROM STDIN").format(staging)
            with conn.cursor().copy(copy_rows) as copy:
                for row, event in enumerate(prepared):
                    copy.write_row((index, row, event.stream_id, event.data))

    def _append_all(self, conn: Connection, staging: sql.Identifier) -> set[str]:
        """Append the staged rows in job order, a batch at a time, in one transaction of the
        store; the streams they touch."""
        streams: set[str] = set()
        current: list[_Staged] = []
        try:
            with PostgresEventStore(self.database_url, pool_size=1, role="etl-sink") as store:
                store.append_batches(self._staged(conn, staging, store, streams, current))
        except RejectedEventsError as exc:
            raise self._rejected(exc, current) from None
        except _STORE_ERRORS as exc:
            raise SinkError(
                f"could not append the staged events to {self.target}: {exc}; check that "
                "PostgreSQL (TUSKFLOW_DATABASE_URL) is up, then run the job again"
            ) from exc
        return streams

    def _staged(
        self,
        conn: Connection,
        staging: sql.Identifier,
        store: BatchStore,
        streams: set[str],
        current: list[_Staged],
    ) -> Iterator[PreparedBatch]:
        """The staged rows as prepared batches; ``current`` holds the rows of the last one."""
        with conn.cursor(name="tuskflow_staged_events") as cursor:
            cursor.execute(sql.SQL(_STAGED).format(staging))
            while batch := cursor.fetchmany(_APPEND_ROWS):
                current[:] = batch
                streams.update(stream for _, _, stream, _ in batch)
                yield store.prepare(
                    [
                        self._prepared(index, row, stream, json.loads(text), text)
                        for index, row, stream, text in batch
                    ]
                )

    def _rejected(self, exc: RejectedEventsError, batch: list[_Staged]) -> JobFailedError:
        first = exc.rejected[0]
        index, row = next((i, r) for i, r, _, _ in batch if self._event_id(i, r) == first.event_id)
        return JobFailedError(
            f"{len(exc.rejected)} event(s) are stored already with other content (the "
            f"first, row {row} of partition {index}: {first.reason}): job {self.job_id} ran "
            "before on other data; run it as a new job"
        )

    def _event_id(self, index: int, row: int) -> uuid.UUID:
        return _row_event_id(f"{self.job_id}/{index}/{row}")

    def _prepared(
        self, index: int, row: int, stream: str | None, data: dict[str, Any], text: str
    ) -> PreparedEvent:
        event = NewEvent(
            self.event_type,
            data,
            {"producer": PRODUCER, "job_id": self.job_id, "partition": index, "row": row},
            self._event_id(index, row),
        )
        try:
            return prepare(stream, event, self.max_event_bytes, text)
        except InvalidEventError as exc:
            raise JobFailedError(
                f"row {row} of partition {index} cannot become an event: {exc}"
            ) from None


def _schema(conn: Connection) -> str:
    """The schema the event store's tables are found in: the first of the search_path."""
    row = conn.execute("SELECT current_schema()").fetchone()
    if row is None or row[0] is None:
        raise SinkConflictError(
            "the search_path names no existing schema, so the event store cannot be found; "
            "check TUSKFLOW_DATABASE_URL and run `tuskflow db migrate`"
        )
    return str(row[0])


def _stream_ids(values: Any) -> list[str | None]:
    """Each row's stream id as text; a null stays null, for prepare() to refuse by its row."""
    return [None if value is None else str(value) for value in values.to_pylist()]


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return value
