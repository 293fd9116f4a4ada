"""The Parquet sink: a folder, published by swapping a symlink to a new version at once.

The user's path is a symlink to ``<parent>/.<name>.tuskflow/<job>.<attempt>.<nonce>/``. Workers
write into that version folder while it is unpublished; publish swaps the symlink with
os.replace (atomic on POSIX), then removes the version it replaced. A path that exists as a
folder tuskflow did not make is refused unless it is empty: its files are not ours to delete.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tuskflow.etl.context import JobContext
from tuskflow.etl.errors import SinkConflictError
from tuskflow.etl.sinks._staging import (
    StagingFolder,
    fsync_tree,
    io_errors,
    link_target,
    publish_by_rename,
    remove_path,
    tidy_version,
    write_replacing,
)
from tuskflow.etl.spec import ParquetSink


@dataclass(frozen=True)
class ParquetWriter:
    """Stages a job's partitions as a new version of the output folder; see the module doc."""

    staging: StagingFolder
    partition_by: tuple[str, ...]
    compression: str

    @classmethod
    def of(cls, spec: ParquetSink, job: JobContext) -> "ParquetWriter":
        """The writer for a spec's sink and a job."""
        staging = StagingFolder.of(spec.path, job)
        return cls(staging, tuple(spec.partition_by), spec.compression)

    @property
    def target(self) -> Path:
        """The output path: a symlink to the published version."""
        return self.staging.target

    def prepare(self) -> None:
        """Refuse a foreign folder, remove this job's earlier staging, create this attempt's."""
        with io_errors(self.target, "prepare Parquet output"):
            self._check_target()
            self.staging.create(link_target(self.target), self._previous())

    def write(self, index: int, table: pa.Table) -> int:
        """Stage one partition, replacing what an earlier try of the same index staged."""
        with io_errors(self.target, f"stage partition {index} of Parquet output"):
            staged = self.staging.existing("prepare() did not run")
            if self.partition_by:
                self._write_partitioned(staged, index, table)
            else:
                write_replacing(
                    staged / _basename(index, "0"),
                    lambda path: pq.write_table(table, path, compression=self.compression),
                )
        return int(table.num_rows)

    def publish(self) -> str:
        """Point the output path at this attempt's version; keep the one it replaced until the
        next publish, so a reader part-way through it can finish, and remove the one before."""
        with io_errors(self.target, "publish Parquet output"):
            self._check_target()
            staged = self.staging.existing("nothing to publish")
            tidy_version(staged)
            fsync_tree(staged)
            previous = link_target(self.target)
            self._swap()
            if previous is not None and previous != staged:
                self._retire(previous)
            self.staging.clear(staged, self._previous())
        return str(self.target)

    def discard(self) -> None:
        """Remove this job's staging; the published version stays as it was."""
        with io_errors(self.target, "remove the staging of Parquet output"):
            self.staging.clear(link_target(self.target), self._previous())

    def _check_target(self) -> None:
        target = self.target
        if link_target(target) is not None or not (target.exists() or target.is_symlink()):
            return
        if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
            return
        raise SinkConflictError(
            f"{target} exists and was not written by tuskflow; move it away or choose another "
            "path, so that no files of yours are replaced"
        )

    def _write_partitioned(self, staged: Path, index: int, table: pa.Table) -> None:
        for stale in staged.rglob(_basename(index, "*")):
            stale.unlink()
        pq.write_to_dataset(
            table,
            staged,
            partition_cols=list(self.partition_by),
            basename_template=_basename(index, "{i}"),
            existing_data_behavior="overwrite_or_ignore",
            compression=self.compression,
        )

    def _previous(self) -> Path | None:
        """The version published before the current one, kept for readers still in it."""
        link = self.staging.versions / _PREVIOUS
        if not link.is_symlink():
            return None
        return self.staging.versions / os.readlink(link)

    def _retire(self, replaced: Path) -> None:
        """Keep ``replaced`` as the previous version; remove the one that was."""
        older = self._previous()
        link = self.staging.entry("previous")
        link.unlink(missing_ok=True)
        link.symlink_to(replaced.name)
        link.replace(self.staging.versions / _PREVIOUS)
        if older is not None and older not in (replaced, self.staging.path):
            remove_path(older)

    def _swap(self) -> None:
        link = self.staging.entry("link")
        link.unlink(missing_ok=True)
        # Relative, so the output keeps working when its parent folder is moved.
        link.symlink_to(Path(self.staging.versions.name) / self.staging.path.name)
        if self.target.is_dir() and not self.target.is_symlink():
            self.target.rmdir()  # empty, as _check_target made sure
        publish_by_rename(link, self.target)


# The link to the version replaced by the last publish; no job prefix starts like it.
_PREVIOUS = "_previous"


def _basename(index: int, part: str) -> str:
    return f"part-{index:06d}-{part}.parquet"
