"""Sinks: write a job's output to staging from the workers, then publish it at once.

A SinkWriter is pickled and shipped to the Dask workers: it holds plain data only and opens
files and connections inside its methods. The driver calls ``prepare()`` once before any write,
the workers ``write()`` each partition (again for a partition Dask retries, which replaces what
the earlier try staged), and the driver ``publish()`` once after all writes, or ``discard()``
after a failure or a cancel. A reader sees the previous output or the new one, never a part.

Each attempt of a job stages apart, under a name holding the attempt and a nonce, and prepare()
removes the job's other attempts' staging: write tasks Dask still runs for an attempt whose
driver died then fail, and never add to what a later attempt publishes. A target the spec
cannot write (a table create would overwrite, a folder tuskflow did not make) raises
SinkConflictError, which a retry would meet again; SinkError is an outage, worth a retry.
"""

from typing import Protocol

import pyarrow as pa

from tuskflow.etl.context import JobContext
from tuskflow.etl.sinks.csv import CsvWriter
from tuskflow.etl.sinks.eventstore import EventStoreWriter
from tuskflow.etl.sinks.parquet import ParquetWriter
from tuskflow.etl.sinks.postgres import PostgresWriter
from tuskflow.etl.spec import CsvSink, EventStoreSink, ParquetSink, PostgresSink

__all__ = ["SinkWriter", "open_sink"]


class SinkWriter(Protocol):
    """Stages a job's output partition by partition and publishes it whole."""

    def prepare(self) -> None:
        """Driver, once, before any write: remove this job's earlier debris, create staging."""

    def write(self, index: int, table: pa.Table) -> int:
        """Worker: stage partition ``index`` (replacing an earlier try of it); rows written."""

    def publish(self) -> str:
        """Driver, once, after all writes: make the output visible at once; its location."""

    def discard(self) -> None:
        """Driver, after a failure or cancel: remove staging, leave the published output."""


def open_sink(
    sink_spec: ParquetSink | CsvSink | PostgresSink | EventStoreSink, job: JobContext
) -> SinkWriter:
    """The writer for a job's sink."""
    match sink_spec:
        case ParquetSink():
            return ParquetWriter.of(sink_spec, job)
        case CsvSink():
            return CsvWriter.of(sink_spec, job)
        case PostgresSink():
            return PostgresWriter.of(sink_spec, job)
        case EventStoreSink():
            return EventStoreWriter.of(sink_spec, job)
