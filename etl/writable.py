"""Whether a file sink's path can be written, asked of the file system itself at submit.

The output and its versions folder go beside each other in the path's parent folder, which
the sink creates with its missing ancestors. So the nearest folder on the way that exists must
be a folder, and one we can make a folder in: the check makes one there and removes it, since
permissions, read-only mounts and pseudo file systems (/proc, /sys) each say no differently.
It runs where it is called: at submit, on the submitter's file system, which is the workers'
when they share it, as a job's source files must be too.
"""

import errno
import os
import tempfile
from pathlib import Path

# What a retry cannot mend: the path is not ours to write as it stands.
PERMANENT_ERRNOS = frozenset(
    {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.ENOENT, errno.EISDIR}
)


def output_path(path: str) -> Path:
    """The spec's path made absolute against the current folder, without following links."""
    return Path(os.path.abspath(os.path.expanduser(path)))


def unwritable(path: str) -> str | None:
    """Why the output ``path`` (as the spec gives it) cannot be written here, or None."""
    folder = output_path(path).parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot write {path!r}: {existing} is a file, not a folder"
    try:
        Path(tempfile.mkdtemp(prefix=".tuskflow-probe-", dir=existing)).rmdir()
    except OSError as exc:
        where = "" if existing == folder else " (the nearest existing folder on its way)"
        reason = exc.strerror or str(exc)
        return f"cannot write {path!r}: {reason} when making a folder in {existing}{where}"
    return None
