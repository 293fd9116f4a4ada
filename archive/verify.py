"""Archive verify: a day read back from the archive and compared, event by event, with the
live store (position, stream, version, id, type, data, metadata, time).

Each file's bytes are checked against the SHA-256 its manifest names, then its events against
the store's events of the same day and position range, and the day's count against the live
count (which catches an event the archive lacks between two files). A verified day is recorded
with the content hash it was verified at: prune removes only a day verified as it is now. A day
pruned already can only be checked against its own manifest, and says so.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa
import structlog

from tuskflow.archive import metrics
from tuskflow.archive.destination import Destination
from tuskflow.archive.event_table import SCHEMA, table_from_csv, table_from_parquet
from tuskflow.archive.manifest import ArchiveFile, DayManifest
from tuskflow.eventstore.postgres.archive_log import ArchiveLog

log = structlog.get_logger(__name__)

# Differences named per day; the count says how many more there were.
_SHOWN = 10


@dataclass
class DayVerdict:
    """The outcome of verifying one day."""

    day: date
    events: int = 0
    problems: list[str] = field(default_factory=list)
    against_store: bool = True

    @property
    def ok(self) -> bool:
        """True when the archive equals the store (or, pruned, its own manifest)."""
        return not self.problems


def verify_day(archive_log: ArchiveLog, destination: Destination, day: date) -> DayVerdict:
    """Compare one archived day with the live store; record it verified when equal."""
    verdict = DayVerdict(day)
    manifest = destination.manifest(day)
    if manifest is None:
        verdict.problems.append(f"day {day} is not in the archive at {destination.url}")
        return verdict
    verdict.events = manifest.events
    recorded = {archived.day: archived for archived in archive_log.days()}.get(day)
    verdict.against_store = recorded is None or recorded.pruned_at is None
    if verdict.against_store:
        live = archive_log.day_range(day).events
        if live != manifest.events:
            verdict.problems.append(f"the archive holds {manifest.events} events, the store {live}")
    for part in manifest.files:
        _verify_file(archive_log, destination, manifest, part, verdict)
    if verdict.ok and verdict.against_store:
        archive_log.record_verified(day, manifest.content_hash)
    if not verdict.ok:
        metrics.VERIFY_FAILURES.inc()
    log.info(
        "archive.day_verified",
        day=str(day),
        ok=verdict.ok,
        events=verdict.events,
        against_store=verdict.against_store,
        problems=len(verdict.problems),
    )
    return verdict


def _verify_file(
    archive_log: ArchiveLog,
    destination: Destination,
    manifest: DayManifest,
    part: ArchiveFile,
    verdict: DayVerdict,
) -> None:
    content = destination.read(manifest.day, part.name)
    if hashlib.sha256(content).hexdigest() != part.sha256:
        verdict.problems.append(f"{part.name}: its bytes do not match the manifest's SHA-256")
        return
    archived = table_from_parquet(content)
    if archived.num_rows != part.events:
        verdict.problems.append(
            f"{part.name}: holds {archived.num_rows} events, the manifest says {part.events}"
        )
    if not verdict.against_store:
        return
    blocks = archive_log.copy_day(manifest.day, part.first_position, part.last_position)
    live = table_from_csv(blocks)
    if not archived.equals(live):
        verdict.problems.extend(f"{part.name}: {line}" for line in differences(archived, live))


def differences(archived: pa.Table, live: pa.Table) -> list[str]:
    """What differs between two tables of events, by global position, the first few named."""
    archived_rows = {row["global_position"]: row for row in archived.to_pylist()}
    live_rows = {row["global_position"]: row for row in live.to_pylist()}
    found: list[str] = []
    for position in sorted(archived_rows.keys() | live_rows.keys()):
        kept, stored = archived_rows.get(position), live_rows.get(position)
        if kept is None:
            found.append(f"position {position} is in the store but not in the archive")
        elif stored is None:
            found.append(f"position {position} is in the archive but not in the store")
        else:
            fields = [name for name in SCHEMA.names if kept[name] != stored[name]]
            if fields:
                found.append(f"position {position} differs in {', '.join(fields)}")
    if len(found) > _SHOWN:
        found = [*found[:_SHOWN], f"and {len(found) - _SHOWN} more differences"]
    return found
