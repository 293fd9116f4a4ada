"""What the file sinks share: an attempt's staging folder and its life cycle, debris removal,
publish by rename, durable writes, error wording."""

import contextlib
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tuskflow.etl.context import JobContext
from tuskflow.etl.errors import SinkConflictError, SinkError
from tuskflow.etl.writable import PERMANENT_ERRNOS, output_path, unwritable

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_TOKEN_MAX = 40
_TEMPORARY = ".tmp"


def new_nonce() -> str:
    """A fresh suffix, so a repeated attempt number never writes into a published version."""
    return uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class StagingFolder:
    """One attempt's staging folder in the versions folder beside a file sink's target.

    Its name is the job's prefix (its token and a dot), the attempt and a nonce, so removing the
    job's debris by prefix removes its other attempts' staging and never another job's. Plain
    data, so a writer holding it pickles to the Dask workers with the same nonce.
    """

    target: Path
    job_prefix: str
    attempt: int
    nonce: str = field(default_factory=new_nonce)

    @classmethod
    def of(cls, path: str, job: JobContext) -> "StagingFolder":
        """The staging folder of a job's attempt for the spec's output path."""
        return cls(output_path(path), f"{job_token(job.job_id)}.", job.attempt)

    @property
    def versions(self) -> Path:
        """The hidden folder beside the target holding its staging and published versions."""
        return versions_dir(self.target)

    @property
    def path(self) -> Path:
        """This attempt's folder."""
        return self.versions / f"{self.job_prefix}{self.attempt}.{self.nonce}"

    def entry(self, kind: str) -> Path:
        """A name of this attempt's in the versions folder, beside its staging folder."""
        return self.versions / f"{self.job_prefix}{kind}.{self.nonce}"

    def create(self, *keep: Path | None) -> None:
        """Remove the job's earlier staging (all but ``keep``), then create this attempt's."""
        remove_debris(self.versions, self.job_prefix, *keep)
        self.path.mkdir(parents=True)

    def existing(self, missing: str) -> Path:
        """This attempt's folder; SinkError ending with ``missing`` when it is not there."""
        if not self.path.is_dir():
            raise SinkError(f"no staging folder {self.path}: {missing}")
        return self.path

    def remove(self) -> None:
        """Remove this attempt's folder, and the versions folder when nothing is left in it."""
        remove_path(self.path)
        remove_if_empty(self.versions)

    def clear(self, *keep: Path | None) -> None:
        """Remove the job's staging (all but ``keep``), and the versions folder if left empty."""
        remove_debris(self.versions, self.job_prefix, *keep)
        remove_if_empty(self.versions)


def job_token(job_id: str) -> str:
    """The job id as a file-name fragment: itself when safe, else a readable part and a hash."""
    readable = _UNSAFE.sub("_", job_id)[:_TOKEN_MAX]
    if readable == job_id and job_id:
        return job_id
    # Two ids that read alike once cleaned must still name different staging folders.
    return f"{readable}_{short_hash(job_id)}"


def short_hash(text: str) -> str:
    """Twelve hex digits naming ``text``: short enough for a PostgreSQL identifier."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def versions_dir(target: Path) -> Path:
    """The hidden folder beside ``target`` holding its staging and published versions."""
    return target.parent / f".{target.name}.tuskflow"


def link_target(target: Path) -> Path | None:
    """Where ``target`` points when it is a symlink into its versions folder, else None."""
    if not target.is_symlink():
        return None
    pointed = Path(os.path.normpath(target.parent / os.readlink(target)))
    return pointed if pointed.parent == versions_dir(target) else None


def remove_debris(folder: Path, prefix: str, *keep: Path | None) -> None:
    """Remove every entry of ``folder`` whose name starts with ``prefix``, except ``keep``."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.name.startswith(prefix) and entry not in keep:
            remove_path(entry)


def remove_path(path: Path) -> None:
    """Remove a file, a symlink or a whole folder; a missing one is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def remove_if_empty(folder: Path) -> None:
    """Remove ``folder`` when nothing is left in it."""
    with contextlib.suppress(OSError):  # not empty, or gone: either way nothing to tidy
        folder.rmdir()


def tidy_version(root: Path) -> None:
    """Remove what killed writes left under ``root``: temporaries, and folders left empty."""
    for temporary in root.rglob(f".*{_TEMPORARY}"):
        temporary.unlink()
    # Folders empty after a rewrite are the old hive values of a rewritten partition.
    for folder, _, _ in os.walk(root, topdown=False):
        # Listed afresh: os.walk's listing predates the removal of this folder's children.
        if Path(folder) != root and not any(Path(folder).iterdir()):
            Path(folder).rmdir()


def publish_by_rename(staged: Path, target: Path) -> None:
    """Rename ``staged`` over ``target`` at once, and flush the rename to disk."""
    os.replace(staged, target)
    fsync_path(target.parent)


def write_replacing(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through a temporary name, so a retried write replaces it whole."""
    temporary = path.with_name(f".{path.name}.{new_nonce()}{_TEMPORARY}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's contents to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_tree(root: Path) -> None:
    """Flush every file and folder under ``root`` (included) to disk."""
    for folder, _, files in os.walk(root):
        for name in files:
            fsync_path(Path(folder) / name)
        fsync_path(Path(folder))


@contextmanager
def io_errors(target: object, doing: str) -> Iterator[None]:
    """Turn an OSError into a SinkError naming the target and what to do about it."""
    try:
        yield
    except OSError as exc:
        refusal = unwritable(str(target)) if exc.errno in PERMANENT_ERRNOS else None
        if refusal is not None:
            raise SinkConflictError(f"{refusal}; a retry would meet it again") from exc
        reason = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename else ""
        raise SinkError(
            f"could not {doing} {target}: {reason}{where}; check that the folder exists, is "
            "writable and has space, then run the job again"
        ) from exc
