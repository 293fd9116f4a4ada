"""The Parquet sink: a folder, published by swapping a symlink to a new version at once.

The user's path is a symlink to ``<parent>/.<name>.tuskflow/<job>.<attempt>.<nonce>/``. Workers
write into that version folder while it is unpublished; publish swaps the symlink with
os.replace (atomic on POSIX), then removes the version it replaced. A path that exists as a
folder tuskflow did not make is refused unless it is empty: its files are not ours to delete.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tuskflow.etl.context import JobContext
from tuskflow.etl.errors import SinkConflictError, SinkError
from tuskflow.etl.sinks._staging import (
    attempt_dir,
    fsync_path,
    fsync_tree,
    io_errors,
    link_target,
    new_nonce,
    output_path,
    remove_debris,
    remove_if_empty,
    remove_path,
    staging_prefix,
    tidy_version,
    versions_dir,
    write_replacing,
)
from tuskflow.etl.spec import ParquetSink


@dataclass(frozen=True)
class ParquetWriter:
    """Stages a job's partitions as a new version of the output folder; see the module doc."""

    target: Path
    partition_by: tuple[str, ...]
    compression: str
    job_prefix: str
    attempt: int
    nonce: str = field(default_factory=new_nonce)

    @classmethod
    def of(cls, spec: ParquetSink, job: JobContext) -> "ParquetWriter":
        """The writer for a spec's sink and a job."""
        return cls(
            target=output_path(spec.path),
            partition_by=tuple(spec.partition_by),
            compression=spec.compression,
            job_prefix=staging_prefix(job.job_id),
            attempt=job.attempt,
        )

    @property
    def staging(self) -> Path:
        """This attempt's version folder: staging until publish, the output after."""
        return attempt_dir(self.target, self.job_prefix, self.attempt, self.nonce)

    def prepare(self) -> None:
        """Refuse a foreign folder, remove this job's earlier staging, create this attempt's."""
        with io_errors(self.target, "prepare Parquet output"):
            self._check_target()
            remove_debris(
                versions_dir(self.target),
                self.job_prefix,
                link_target(self.target),
                self._previous(),
            )
            self.staging.mkdir(parents=True)

    def write(self, index: int, table: pa.Table) -> int:
        """Stage one partition, replacing what an earlier try of the same index staged."""
        with io_errors(self.target, f"stage partition {index} of Parquet output"):
            if not self.staging.is_dir():
                raise SinkError(f"no staging folder {self.staging}: prepare() did not run")
            if self.partition_by:
                self._write_partitioned(index, table)
            else:
                write_replacing(
                    self.staging / _basename(index, "0"),
                    lambda path: pq.write_table(table, path, compression=self.compression),
                )
        return int(table.num_rows)

    def publish(self) -> str:
        """Point the output path at this attempt's version; keep the one it replaced until the
        next publish, so a reader part-way through it can finish, and remove the one before."""
        with io_errors(self.target, "publish Parquet output"):
            self._check_target()
            if not self.staging.is_dir():
                raise SinkError(f"no staging folder {self.staging}: nothing to publish")
            tidy_version(self.staging)
            fsync_tree(self.staging)
            previous = link_target(self.target)
            self._swap()
            if previous is not None and previous != self.staging:
                self._retire(previous)
            remove_debris(
                versions_dir(self.target), self.job_prefix, self.staging, self._previous()
            )
        return str(self.target)

    def discard(self) -> None:
        """Remove this job's staging; the published version stays as it was."""
        with io_errors(self.target, "remove the staging of Parquet output"):
            published = link_target(self.target)
            remove_debris(versions_dir(self.target), self.job_prefix, published, self._previous())
            remove_if_empty(versions_dir(self.target))

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

    def _write_partitioned(self, index: int, table: pa.Table) -> None:
        for stale in self.staging.rglob(_basename(index, "*")):
            stale.unlink()
        pq.write_to_dataset(
            table,
            self.staging,
            partition_cols=list(self.partition_by),
            basename_template=_basename(index, "{i}"),
            existing_data_behavior="overwrite_or_ignore",
            compression=self.compression,
        )

    def _previous(self) -> Path | None:
        """The version published before the current one, kept for readers still in it."""
        link = versions_dir(self.target) / _PREVIOUS
        if not link.is_symlink():
            return None
        return versions_dir(self.target) / os.readlink(link)

    def _retire(self, replaced: Path) -> None:
        """Keep ``replaced`` as the previous version; remove the one that was."""
        older = self._previous()
        link = versions_dir(self.target) / f"{self.job_prefix}previous.{self.nonce}"
        link.unlink(missing_ok=True)
        link.symlink_to(replaced.name)
        link.replace(versions_dir(self.target) / _PREVIOUS)
        if older is not None and older not in (replaced, self.staging):
            remove_path(older)

    def _swap(self) -> None:
        link = versions_dir(self.target) / f"{self.job_prefix}link.{self.nonce}"
        link.unlink(missing_ok=True)
        # Relative, so the output keeps working when its parent folder is moved.
        link.symlink_to(Path(versions_dir(self.target).name) / self.staging.name)
        if self.target.is_dir() and not self.target.is_symlink():
            self.target.rmdir()  # empty, as _check_target made sure
        link.replace(self.target)
        fsync_path(self.target.parent)


# The link to the version replaced by the last publish; no job prefix starts like it.
_PREVIOUS = "_previous"


def _basename(index: int, part: str) -> str:
    return f"part-{index:06d}-{part}.parquet"
