"""The pruned part of the log, read back from the archive for a rebuild from the first event.

A projection rebuilt over a pruned range reads the pruned days' events from the archive,
merged in global order with the events of those positions still live (a day's first and last
positions can interleave with its neighbours'), and only then continues in the live store.
"""

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from tuskflow.archive.destination import Destination
from tuskflow.archive.event_table import recorded_events, table_from_parquet
from tuskflow.config.errors import PermanentError
from tuskflow.eventstore.postgres.archive_log import ArchiveLog
from tuskflow.eventstore.records import RecordedEvent


@dataclass(frozen=True)
class PrunedLog:
    """The pruned events in global order, and the last position any pruned day held."""

    events: Iterator[RecordedEvent]
    through: int


def pruned_log(archive_log: ArchiveLog, destination: Destination) -> PrunedLog:
    """The events every prune removed, from the archive; empty when nothing was pruned."""
    pruned = [archived for archived in archive_log.days() if archived.pruned_at is not None]
    days = []
    for archived in pruned:
        manifest = destination.manifest(archived.day)
        if manifest is None or manifest.content_hash != archived.content_hash:
            raise PermanentError(
                f"day {archived.day} was pruned, but the archive at {destination.url} does not "
                f"hold it as it was verified (it was archived at {archived.location})"
            )
        days.append(_day_events(destination, manifest.day, [p.name for p in manifest.files]))
    through = max((archived.last_position or 0 for archived in pruned), default=0)
    merged = heapq.merge(*days, key=lambda event: event.global_position)
    return PrunedLog(merged, through)


def _day_events(destination: Destination, day: date, names: list[str]) -> Iterator[RecordedEvent]:
    for name in names:
        yield from recorded_events(table_from_parquet(destination.read(day, name)))
