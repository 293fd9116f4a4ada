"""The CSV sink: one file with a header, replaced at once by os.replace.

Workers write each partition's rows (and, beside them, its header line) into a staging folder
``<parent>/.<name>.tuskflow/<job>.<attempt>.<nonce>/``; publish concatenates the parts in
partition order into a file in that folder, flushes it to disk and renames it over the target.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv

from tuskflow.etl.context import JobContext
from tuskflow.etl.errors import SinkConflictError
from tuskflow.etl.sinks._staging import (
    StagingFolder,
    io_errors,
    publish_by_rename,
    write_replacing,
)
from tuskflow.etl.spec import CsvSink

_ROWS = ".csv"
_HEADER = ".header"


@dataclass(frozen=True)
class CsvWriter:
    """Stages a job's partitions as headerless parts and publishes their concatenation."""

    staging: StagingFolder
    delimiter: str

    @classmethod
    def of(cls, spec: CsvSink, job: JobContext) -> "CsvWriter":
        """The writer for a spec's sink and a job."""
        return cls(StagingFolder.of(spec.path, job), spec.delimiter)

    @property
    def target(self) -> Path:
        """The output file."""
        return self.staging.target

    def prepare(self) -> None:
        """Refuse a folder as the target, remove this job's earlier staging, create this one."""
        if self.target.is_dir():
            raise SinkConflictError(f"{self.target} is a folder; a CSV sink writes one file")
        with io_errors(self.target, "prepare CSV output"):
            self.staging.create()

    def write(self, index: int, table: pa.Table) -> int:
        """Stage one partition's rows and header, replacing an earlier try of the same index."""
        with io_errors(self.target, f"stage partition {index} of CSV output"):
            part = self.staging.existing("prepare() did not run") / f"part-{index:06d}"
            write_replacing(
                part.with_suffix(_HEADER), lambda path: self._write(table.slice(0, 0), path, True)
            )
            write_replacing(part.with_suffix(_ROWS), lambda path: self._write(table, path, False))
        return int(table.num_rows)

    def publish(self) -> str:
        """Concatenate the parts under one header, flush, and rename the result over the target."""
        with io_errors(self.target, "publish CSV output"):
            staged = self.staging.existing("nothing to publish")
            parts = sorted(staged.glob(f"part-*{_ROWS}"))
            assembled = staged / "output.csv"
            with assembled.open("wb") as out:
                out.write(_common_header(self.target, parts))
                for part in parts:
                    with part.open("rb") as rows:
                        shutil.copyfileobj(rows, out)
                out.flush()
                os.fsync(out.fileno())
            publish_by_rename(assembled, self.target)
            self.staging.remove()
        return str(self.target)

    def discard(self) -> None:
        """Remove this job's staging; the published file stays as it was."""
        with io_errors(self.target, "remove the staging of CSV output"):
            self.staging.clear()

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
