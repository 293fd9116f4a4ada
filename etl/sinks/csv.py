"""The CSV sink: one file with a header, replaced at once by os.replace.

Workers write each partition's rows (and, beside them, its header line) into a staging folder
``<parent>/.<name>.tuskflow/<job>.<attempt>.<nonce>/``; publish concatenates the parts in
partition order into a file in that folder, flushes it to disk and renames it over the target.
"""

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv

from tuskflow.etl.context import JobContext
from tuskflow.etl.errors import SinkConflictError, SinkError
from tuskflow.etl.sinks._staging import (
    attempt_dir,
    fsync_path,
    io_errors,
    new_nonce,
    output_path,
    remove_debris,
    remove_if_empty,
    remove_path,
    staging_prefix,
    versions_dir,
    write_replacing,
)
from tuskflow.etl.spec import CsvSink

_ROWS = ".csv"
_HEADER = ".header"


@dataclass(frozen=True)
class CsvWriter:
    """Stages a job's partitions as headerless parts and publishes their concatenation."""

    target: Path
    delimiter: str
    job_prefix: str
    attempt: int
    nonce: str = field(default_factory=new_nonce)

    @classmethod
    def of(cls, spec: CsvSink, job: JobContext) -> "CsvWriter":
        """The writer for a spec's sink and a job."""
        return cls(
            target=output_path(spec.path),
            delimiter=spec.delimiter,
            job_prefix=staging_prefix(job.job_id),
            attempt=job.attempt,
        )

    @property
    def staging(self) -> Path:
        """This attempt's staging folder."""
        return attempt_dir(self.target, self.job_prefix, self.attempt, self.nonce)

    def prepare(self) -> None:
        """Refuse a folder as the target, remove this job's earlier staging, create this one."""
        if self.target.is_dir():
            raise SinkConflictError(f"{self.target} is a folder; a CSV sink writes one file")
        with io_errors(self.target, "prepare CSV output"):
            remove_debris(versions_dir(self.target), self.job_prefix, None)
            self.staging.mkdir(parents=True)

    def write(self, index: int, table: pa.Table) -> int:
        """Stage one partition's rows and header, replacing an earlier try of the same index."""
        with io_errors(self.target, f"stage partition {index} of CSV output"):
            if not self.staging.is_dir():
                raise SinkError(f"no staging folder {self.staging}: prepare() did not run")
            part = self.staging / f"part-{index:06d}"
            write_replacing(
                part.with_suffix(_HEADER), lambda path: self._write(table.slice(0, 0), path, True)
            )
            write_replacing(part.with_suffix(_ROWS), lambda path: self._write(table, path, False))
        return int(table.num_rows)

    def publish(self) -> str:
        """Concatenate the parts under one header, flush, and rename the result over the target."""
        with io_errors(self.target, "publish CSV output"):
            if not self.staging.is_dir():
                raise SinkError(f"no staging folder {self.staging}: nothing to publish")
            parts = sorted(self.staging.glob(f"part-*{_ROWS}"))
            assembled = self.staging / "output.csv"
            with assembled.open("wb") as out:
                out.write(_common_header(self.target, parts))
                for part in parts:
                    with part.open("rb") as rows:
                        shutil.copyfileobj(rows, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(assembled, self.target)
            fsync_path(self.target.parent)
            remove_path(self.staging)
            remove_if_empty(versions_dir(self.target))
        return str(self.target)

    def discard(self) -> None:
        """Remove this job's staging; the published file stays as it was."""
        with io_errors(self.target, "remove the staging of CSV output"):
            remove_debris(versions_dir(self.target), self.job_prefix, None)
            remove_if_empty(versions_dir(self.target))

    def _write(self, table: pa.Table, path: Path, header: bool) -> None:
        options = pa_csv.WriteOptions(include_header=header, delimiter=self.delimiter)
        pa_csv.write_csv(table, str(path), write_options=options)


def _common_header(target: Path, parts: list[Path]) -> bytes:
    """The header every part shares; partitions that disagree on columns cannot be one file."""
    headers = {part.with_suffix(_HEADER).read_bytes() for part in parts}
    if len(headers) > 1:
        raise SinkConflictError(
            f"the partitions bound for {target} have different columns; make every partition "
            "produce the same columns (a select or cast in the spec) and run the job again"
        )
    return headers.pop() if headers else b""
