"""What `tuskflow archive list` shows: each archived day with the database's record of it, then
the live days not sealed or not exported yet with their live counts."""

from datetime import date, timedelta
from typing import Any

from tuskflow.archive.destination import Destination
from tuskflow.archive.export import last_sealed_day
from tuskflow.eventstore.postgres.archive_log import ArchiveLog


def archive_days(
    archive_log: ArchiveLog, destination: Destination, settle_s: float
) -> list[dict[str, Any]]:
    """One row per day: archived days first (oldest first), then live days after them."""
    recorded = {archived.day: archived for archived in archive_log.days()}
    rows = []
    for manifest in destination.manifests():
        archived = recorded.get(manifest.day)
        rows.append(
            _row(
                manifest.day,
                manifest.events,
                len(manifest.files),
                manifest.size,
                "archived",
                archived.verified_at if archived else None,
                archived.pruned_at if archived else None,
            )
        )
    now = archive_log.now()
    sealed = last_sealed_day(now, settle_s, archive_log.oldest_open_transaction())
    day = rows[-1]["day"] + timedelta(days=1) if rows else archive_log.first_day()
    while day is not None and day <= now.date():
        live = archive_log.day_range(day).events
        if live:
            state = "sealed, not exported" if day <= sealed else "open"
            rows.append(_row(day, live, 0, 0, state, None, None))
        day += timedelta(days=1)
    return rows


def _row(
    day: date, events: int, files: int, size: int, state: str, verified: Any, pruned: Any
) -> dict[str, Any]:
    return {
        "day": day,
        "events": events,
        "files": files,
        "bytes": size,
        "state": state,
        "verified_at": verified,
        "pruned_at": pruned,
    }
