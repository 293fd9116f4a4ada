"""Where the archive's files live: a local folder or an object store, through pyarrow.fs.

Publishing a day is atomic for a reader of the archive. In a local folder the day is written
into ``_staging/`` and renamed into place whole, manifest included. An object store has no
rename of many objects, so there the files are written in place and the manifest last: the
manifest is the commit, and every reader here (list, read, verify, a rebuild) goes by it.
A run killed before the manifest leaves files under names a re-run writes again, with the
same bytes.
"""

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pyarrow import fs

from tuskflow.archive.manifest import DAY_PREFIX, MANIFEST_NAME, DayManifest, day_folder
from tuskflow.config.errors import ConfigError

STAGING = "_staging"


def shown(url: str) -> str:
    """The URL without credentials (s3://key:secret@bucket/...), for messages and records."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.hostname or ""))


def _open(url: str) -> tuple[fs.FileSystem, str]:
    if "://" not in url:
        url = str(Path(url).resolve())
    try:
        opened: tuple[fs.FileSystem, str] = fs.FileSystem.from_uri(url)
    except (ValueError, OSError) as exc:
        message = str(exc).replace(url, shown(url))
        raise ConfigError(f"archive location {shown(url)!r} cannot be opened: {message}") from None
    return opened


@dataclass
class DayWriter:
    """Writes one day's files, then publishes them with the manifest."""

    destination: "Destination"
    day: date
    folder: str

    def write(self, name: str, content: bytes) -> None:
        """Write one file of the day (not yet visible to readers)."""
        with self.destination.filesystem.open_output_stream(f"{self.folder}/{name}") as out:
            out.write(content)

    def publish(self, manifest: DayManifest) -> None:
        """Make the day visible: the manifest, then (in a local folder) the rename."""
        self.write(MANIFEST_NAME, manifest.to_json())
        final = self.destination.day_path(self.day)
        if self.folder != final:
            self.destination.filesystem.move(self.folder, final)


class Destination:
    """An archive root: ``/path``, ``file:///path`` or ``s3://[key:secret@]bucket/prefix?...``
    (pyarrow's S3 options as query parameters); ``url`` is the root without credentials."""

    def __init__(self, url: str) -> None:
        self.url = shown(url)
        self.filesystem, self.root = _open(url)
        self.local = isinstance(self.filesystem, fs.LocalFileSystem)
        self.filesystem.create_dir(self.root, recursive=True)

    def day_path(self, day: date) -> str:
        """The path of a day's folder."""
        return f"{self.root}/{day_folder(day)}"

    def location(self, day: date) -> str:
        """Where a day is, as a person would look for it."""
        scheme = "" if self.local else f"{self.filesystem.type_name}://"
        return f"{scheme}{self.day_path(day)}"

    def begin_day(self, day: date) -> DayWriter:
        """A writer for a day not yet in the archive; leftovers of a killed run are cleared."""
        folder = self.day_path(day)
        if self.local:
            folder = f"{self.root}/{STAGING}/{day_folder(day)}"
            self.filesystem.delete_dir_contents(folder, missing_dir_ok=True)
            if self._exists(self.day_path(day)):  # a folder without manifest: never published
                self.filesystem.delete_dir(self.day_path(day))
        self.filesystem.create_dir(folder, recursive=True)
        return DayWriter(self, day, folder)

    def manifest(self, day: date) -> DayManifest | None:
        """The day's manifest; None when the day is not (wholly) in the archive."""
        path = f"{self.day_path(day)}/{MANIFEST_NAME}"
        if not self._exists(path):
            return None
        return DayManifest.from_json(self.read_path(path))

    def manifests(self) -> list[DayManifest]:
        """Every published day, oldest first."""
        selector = fs.FileSelector(self.root, allow_not_found=True)
        days = []
        for info in self.filesystem.get_file_info(selector):
            if info.type == fs.FileType.Directory and info.base_name.startswith(DAY_PREFIX):
                try:
                    day = date.fromisoformat(info.base_name.removeprefix(DAY_PREFIX))
                except ValueError:
                    continue
                manifest = self.manifest(day)
                if manifest is not None:
                    days.append(manifest)
        return sorted(days, key=lambda manifest: manifest.day)

    def read(self, day: date, name: str) -> bytes:
        """One file of a published day."""
        return self.read_path(f"{self.day_path(day)}/{name}")

    def read_path(self, path: str) -> bytes:
        """The bytes at a path under the root."""
        with self.filesystem.open_input_stream(path) as stream:
            return bytes(stream.read())

    def _exists(self, path: str) -> bool:
        found: bool = self.filesystem.get_file_info(path).type != fs.FileType.NotFound
        return found
