"""Events as Arrow tables: the archive's schema, built from the store's CSV, written as Parquet,
and turned back into RecordedEvents.

The schema keeps every field of an event exactly: data and metadata as the store's jsonb text,
recorded_at to the microsecond in UTC. Parquet is written with fixed options (zstd, one row
group per file, no statistics that vary), so the same events give the same bytes.
"""

import io
import uuid
from collections.abc import Iterable, Iterator

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tuskflow.eventstore.postgres.archive_log import ARCHIVE_COLUMNS
from tuskflow.eventstore.records import RecordedEvent

SCHEMA = pa.schema(
    [
        pa.field("global_position", pa.int64(), nullable=False),
        pa.field("stream_id", pa.string(), nullable=False),
        pa.field("stream_version", pa.int32(), nullable=False),
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("data", pa.string(), nullable=False),
        pa.field("metadata", pa.string(), nullable=False),
        pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
_CSV_TYPES = {
    **{field.name: field.type for field in SCHEMA if field.name != "recorded_at"},
    "recorded_at_us": pa.int64(),
}


class _BlockStream(io.RawIOBase):
    """A readable stream over an iterator of byte blocks (a COPY's output)."""

    def __init__(self, blocks: Iterable[bytes]) -> None:
        self._blocks = iter(blocks)
        self._rest = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "memoryview | bytearray") -> int:  # type: ignore[override]
        while not self._rest:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._rest = memoryview(block)
        size = min(len(buffer), len(self._rest))
        buffer[:size] = self._rest[:size]
        self._rest = self._rest[size:]
        return size


def batches_from_csv(blocks: Iterable[bytes]) -> Iterator[pa.RecordBatch]:
    """Record batches of the archive's schema from the store's CSV blocks, streamed."""
    reader = pacsv.open_csv(
        _BlockStream(blocks),
        read_options=pacsv.ReadOptions(column_names=list(ARCHIVE_COLUMNS), block_size=4 << 20),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=_CSV_TYPES, strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    )
    for batch in reader:
        yield _with_timestamps(batch)


def _with_timestamps(batch: pa.RecordBatch) -> pa.RecordBatch:
    columns = [*batch.columns[:-1], pc.cast(batch.column(-1), pa.timestamp("us", tz="UTC"))]
    return pa.RecordBatch.from_arrays(columns, schema=SCHEMA)


def table_from_csv(blocks: Iterable[bytes]) -> pa.Table:
    """The whole CSV as one table of the archive's schema."""
    return pa.Table.from_batches(list(batches_from_csv(blocks)), schema=SCHEMA)


def parquet_bytes(table: pa.Table) -> bytes:
    """The table as one Parquet file, the same bytes for the same table."""
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        row_group_size=max(table.num_rows, 1),
        write_statistics=["global_position", "stream_version", "recorded_at"],
    )
    return bytes(sink.getvalue().to_pybytes())


def table_from_parquet(content: bytes) -> pa.Table:
    """A Parquet file of the archive read back, in the archive's schema."""
    return pq.read_table(pa.BufferReader(content)).cast(SCHEMA)


def recorded_events(table: pa.Table) -> Iterator[RecordedEvent]:
    """The table's rows as the store's RecordedEvents."""
    for row in table.to_pylist():
        yield RecordedEvent(
            row["global_position"],
            row["stream_id"],
            row["stream_version"],
            uuid.UUID(row["event_id"]),
            row["event_type"],
            orjson.loads(row["data"]),
            orjson.loads(row["metadata"]),
            row["recorded_at"],
        )
