"""The event-store sink: each row becomes an event, all appended in one transaction at publish.

Workers evaluate the stream id and encode each row as JSON, and stage both as a Parquet file per
partition under ``<state_dir>/etl-staging/<job>/``. Publish appends every staged part with the
store's batch append inside one transaction, so readers see all of the job's events or none.
An event's id is uuid5(EVENT_ID_NAMESPACE, "<job_id>/<partition index>/<row, 0-based>"): a rerun
of the job stores nothing new, its events are duplicates of the first run's.
"""

import datetime
import json
import math
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

from config.errors import ConfigError
from etl import expressions
from etl.context import JobContext
from etl.errors import JobFailedError, SinkError
from etl.sinks._staging import io_errors, job_token, remove_path, write_replacing
from etl.spec import EventStoreSink
from eventstore.errors import InvalidEventError
from eventstore.postgres.append import append_prepared
from eventstore.postgres.connection import configure
from eventstore.records import NewEvent
from eventstore.validation import DEFAULT_MAX_EVENT_BYTES, PreparedEvent, prepare

EVENT_ID_NAMESPACE = uuid.UUID("a0825e3d-bbd1-4ba1-98f4-58e2d40bc18a")
PRODUCER = "tuskflow-etl"
_STREAM = "stream_id"
_DATA = "data"
# Compact and strict (no NaN), as the store encodes; non-JSON values (Decimal) become text.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class EventStoreWriter:
    """Stages rows as events per partition and appends them all at publish; see the module doc."""

    database_url: str
    stream_id: str
    event_type: str
    job_id: str
    staging: Path
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES

    @classmethod
    def of(cls, spec: EventStoreSink, job: JobContext) -> "EventStoreWriter":
        """The writer for a spec's sink and a job."""
        if job.database_url is None:
            raise ConfigError(
                f"the eventstore sink of {spec.event_type} events needs a database: set "
                "TUSKFLOW_DATABASE_URL"
            )
        state_dir = Path(os.path.abspath(job.state_dir))
        staging = state_dir / "etl-staging" / job_token(job.job_id)
        return cls(job.database_url, spec.stream_id, spec.event_type, job.job_id, staging)

    @property
    def target(self) -> str:
        """How messages name this sink's output."""
        return f"the event store ({self.event_type} events)"

    def prepare(self) -> None:
        """Remove what an earlier attempt of this job staged, and create the staging folder."""
        with io_errors(self.target, "prepare events for"):
            remove_path(self.staging)
            self.staging.mkdir(parents=True)

    def write(self, index: int, table: pa.Table) -> int:
        """Stage one partition's rows as (stream id, JSON data), replacing an earlier try."""
        streams = _stream_ids(expressions.evaluate(expressions.parse(self.stream_id), table))
        rows = [
            {name: _json_value(value) for name, value in row.items()} for row in table.to_pylist()
        ]
        texts = [_ENCODER.encode(row) for row in rows]
        # A row that cannot be an event fails its partition here, not the publish at the end.
        self._prepared(index, streams, rows, texts)
        staged = pa.table(
            {
                _STREAM: pa.array(streams, pa.large_string()),
                _DATA: pa.array(texts, pa.large_string()),
            }
        )
        with io_errors(self.target, f"stage partition {index} of events for"):
            if not self.staging.is_dir():
                raise SinkError(f"no staging folder {self.staging}: prepare() did not run")
            write_replacing(self._part(index), lambda path: pq.write_table(staged, path))
        return int(table.num_rows)

    def publish(self) -> str:
        """Append every staged event in one transaction; events stored before are skipped."""
        with io_errors(self.target, "read the staged events for"):
            if not self.staging.is_dir():
                raise SinkError(f"no staging folder {self.staging}: nothing to publish")
            parts = sorted(self.staging.glob("part-*.parquet"))
        try:
            with io_errors(self.target, "append the staged events to"):
                streams = self._append_all(parts)
        except psycopg.Error as exc:
            raise _database_error(self.target, exc) from exc
        with io_errors(self.target, "remove the staged events for"):
            remove_path(self.staging)
        return f"eventstore:{self.event_type} in {len(streams)} streams"

    def discard(self) -> None:
        """Remove this job's staged events; nothing was appended."""
        with io_errors(self.target, "remove the staged events for"):
            remove_path(self.staging)

    def _part(self, index: int) -> Path:
        return self.staging / f"part-{index:06d}.parquet"

    def _append_all(self, parts: list[Path]) -> set[str]:
        """Append the parts in partition order, in one transaction; the streams they touch."""
        streams: set[str] = set()
        with psycopg.connect(self.database_url) as conn:
            configure(conn)
            with conn.transaction():
                for part in parts:
                    staged = pq.read_table(part)
                    self._append(conn, int(part.stem.removeprefix("part-")), staged)
                    streams.update(staged.column(_STREAM).to_pylist())
        return streams

    def _append(self, conn: psycopg.Connection[Any], index: int, staged: pa.Table) -> None:
        streams = staged.column(_STREAM).to_pylist()
        texts = staged.column(_DATA).to_pylist()
        rows = [json.loads(text) for text in texts]
        result = append_prepared(conn, self._prepared(index, streams, rows, texts))
        if result.rejected:
            first = result.rejected[0]
            raise JobFailedError(
                f"{len(result.rejected)} event(s) of partition {index} are stored already with "
                f"other content ({first.reason}): job {self.job_id} ran before on other data; "
                "run it as a new job"
            )

    def _prepared(
        self,
        index: int,
        streams: list[str | None],
        rows: list[dict[str, Any]],
        texts: list[str],
    ) -> list[PreparedEvent]:
        prepared = []
        for row, (stream, data, text) in enumerate(zip(streams, rows, texts, strict=True)):
            event = NewEvent(
                self.event_type,
                data,
                {"producer": PRODUCER, "job_id": self.job_id, "partition": index, "row": row},
                uuid.uuid5(EVENT_ID_NAMESPACE, f"{self.job_id}/{index}/{row}"),
            )
            try:
                prepared.append(prepare(stream, event, self.max_event_bytes, text))
            except InvalidEventError as exc:
                raise JobFailedError(
                    f"row {row} of partition {index} cannot become an event: {exc}"
                ) from None
        return prepared


def _stream_ids(values: Any) -> list[str | None]:
    """Each row's stream id as text; a null stays null, for prepare() to refuse by its row."""
    return [None if value is None else str(value) for value in values.to_pylist()]


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return value


def _database_error(target: str, exc: psycopg.Error) -> SinkError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return SinkError(
        f"could not append to {target}: {reason}; check that PostgreSQL (TUSKFLOW_DATABASE_URL) "
        "is up and its event store migrated (`tuskflow db migrate`), then run the job again"
    )
