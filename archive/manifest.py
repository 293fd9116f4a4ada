"""A day's manifest: what the archive holds for one UTC day, and the names of its parts.

A day folder is ``day=YYYY-MM-DD`` under the archive's root; each file in it is named after the
global position of its first event (``00000000000000000042.parquet``), so a re-run writes the
same names. ``_manifest.json`` is written last and is the day's commit: a day without it is not
in the archive, whatever files it holds. The manifest holds nothing that changes between runs
(no export time), so exporting the same day again writes the same bytes.
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date

MANIFEST_NAME = "_manifest.json"
MANIFEST_FORMAT = 1
DAY_PREFIX = "day="


def day_folder(day: date) -> str:
    """The folder of a day under the archive's root."""
    return f"{DAY_PREFIX}{day.isoformat()}"


def file_name(first_position: int) -> str:
    """The name of a day's file whose first event has this global position."""
    return f"{first_position:020d}.parquet"


@dataclass(frozen=True)
class ArchiveFile:
    """One Parquet file of a day: its events' positions, size and SHA-256."""

    name: str
    events: int
    first_position: int
    last_position: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class DayManifest:
    """What an archived day holds. ``content_hash`` is SHA-256 over the files' names and
    hashes in order, so it changes when any file's bytes do."""

    day: date
    events: int
    first_position: int | None
    last_position: int | None
    files: tuple[ArchiveFile, ...] = field(default_factory=tuple)

    @property
    def size(self) -> int:
        """The size of the day's files, in bytes."""
        return sum(part.bytes for part in self.files)

    @property
    def content_hash(self) -> str:
        """SHA-256 of the files' names and hashes, one line each."""
        lines = "".join(f"{part.name} {part.sha256}\n" for part in self.files)
        return hashlib.sha256(lines.encode()).hexdigest()

    def to_json(self) -> bytes:
        """The manifest file's bytes: sorted keys, so equal manifests are equal bytes."""
        body = asdict(self)
        body.update(format=MANIFEST_FORMAT, day=self.day.isoformat())
        body["content_hash"] = self.content_hash
        return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, text: bytes) -> "DayManifest":
        """Read a manifest file; ValueError for one this version cannot read."""
        body = json.loads(text)
        if body.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"manifest format {body.get('format')!r} is not {MANIFEST_FORMAT}")
        manifest = cls(
            day=date.fromisoformat(body["day"]),
            events=body["events"],
            first_position=body["first_position"],
            last_position=body["last_position"],
            files=tuple(ArchiveFile(**part) for part in body["files"]),
        )
        if manifest.content_hash != body["content_hash"]:
            raise ValueError("the manifest's content_hash does not match its files")
        return manifest
