"""Archive prune: archived, verified days leave the live store through tuskflow_prune_day.

The database function is the only path a DELETE on events passes (the append-only trigger
refuses every other): it refuses a day that is not archived or not verified as archived now,
deletes exactly the day's events, checks the count against the archive, and records who
pruned it and when in ``event_prunes``. Days go oldest first and the run stops at the first
refusal, so what stays live is always a suffix of days.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import structlog

from tuskflow.eventstore.postgres.archive_log import ArchiveLog, PruneRefusedError

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PrunedDay:
    """One day a prune removed from the live store."""

    day: date
    events: int


@dataclass(frozen=True)
class PruneResult:
    """The days pruned, oldest first, and the database's refusal that stopped the run."""

    pruned: list[PrunedDay]
    refused: str | None = None


def prune(archive_log: ArchiveLog, before: date, pruned_by: str) -> PruneResult:
    """Prune every live day before ``before``, oldest first, up to the first day the database
    refuses."""
    pruned: list[PrunedDay] = []
    day = archive_log.first_day()
    unpruned = [archived.day for archived in archive_log.days() if archived.pruned_at is None]
    if unpruned and (day is None or unpruned[0] < day):
        day = unpruned[0]  # an archived day with no events left live (empty) is pruned too
    while day is not None and day < before:
        try:
            events = archive_log.prune_day(day, pruned_by)
        except PruneRefusedError as refusal:
            return PruneResult(pruned, str(refusal))
        pruned.append(PrunedDay(day, events))
        log.info("archive.day_pruned", day=str(day), events=events, pruned_by=pruned_by)
        day += timedelta(days=1)
    return PruneResult(pruned)
