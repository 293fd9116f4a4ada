"""Archive export: every sealed day not yet archived, oldest first, each published whole.

A day is sealed once it can no longer receive events: its midnight is ``settle_s`` behind the
database's clock, and no transaction that began before that midnight is still open (an
event's recorded_at is its statement's start, so only such a transaction could add one).
The export resumes after the last day the archive holds, so a killed run loses only the day it
was writing, and a re-run writes that day again with the same file names and bytes. A day
recorded in the archive but not yet in ``archive_days`` (killed between the two) is recorded.
"""

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import structlog

from tuskflow.archive import metrics
from tuskflow.archive.destination import Destination
from tuskflow.archive.event_table import SCHEMA, batches_from_csv, parquet_bytes
from tuskflow.archive.manifest import ArchiveFile, DayManifest, file_name
from tuskflow.config.errors import PermanentError
from tuskflow.eventstore.postgres.archive_log import ArchivedDay, ArchiveLog

log = structlog.get_logger(__name__)

# Events per Parquet file: a file's rows are held in memory once, so this bounds an export's
# memory whatever the day's size (about 100 MB at a few hundred bytes per event).
FILE_EVENTS = 200_000

Progress = Callable[[date, int, int], object]  # day, events written so far, events of the day


@dataclass(frozen=True)
class ExportResult:
    """What one export run did."""

    exported: list[DayManifest]
    last_sealed: date | None


def last_sealed_day(now: datetime, settle_s: float, oldest_open: datetime | None) -> date:
    """The latest UTC day that can no longer receive events."""
    cutoff = now - timedelta(seconds=settle_s)
    if oldest_open is not None and oldest_open < cutoff:
        cutoff = oldest_open
    return cutoff.astimezone(UTC).date() - timedelta(days=1)


def export(
    archive_log: ArchiveLog,
    destination: Destination,
    *,
    settle_s: float,
    until: date | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Export each sealed day after the archive's last, up to ``until`` if given."""
    last = last_sealed_day(archive_log.now(), settle_s, archive_log.oldest_open_transaction())
    if until is not None:
        last = min(last, until)
    published = destination.manifests()
    _record_unrecorded(archive_log, destination, published)
    start = published[-1].day + timedelta(days=1) if published else archive_log.first_day()
    exported: list[DayManifest] = []
    for day in _days(start, last):
        manifest = export_day(archive_log, destination, day, progress)
        _record(archive_log, destination, manifest)
        exported.append(manifest)
    return ExportResult(exported, last)


def _days(start: date | None, last: date) -> Iterator[date]:
    day = start
    while day is not None and day <= last:
        yield day
        day += timedelta(days=1)


def export_day(
    archive_log: ArchiveLog, destination: Destination, day: date, progress: Progress | None = None
) -> DayManifest:
    """Write one day's files and publish them with its manifest."""
    span = archive_log.day_range(day)
    writer = destination.begin_day(day)
    files: list[ArchiveFile] = []
    if span.first_position is not None and span.last_position is not None:
        blocks = archive_log.copy_day(day, span.first_position, span.last_position)
        for table in _file_tables(batches_from_csv(blocks)):
            files.append(_write_file(writer.write, table))
            metrics.EVENTS_ARCHIVED.inc(table.num_rows)
            if progress is not None:
                progress(day, sum(part.events for part in files), span.events)
    manifest = DayManifest(day, span.events, span.first_position, span.last_position, tuple(files))
    written = sum(part.events for part in files)
    if written != span.events:
        raise PermanentError(
            f"day {day} changed while it was exported ({span.events} events counted, {written} "
            "read): it was not sealed; nothing was published"
        )
    writer.publish(manifest)
    metrics.DAYS_SEALED.inc()
    log.info("archive.day_exported", day=str(day), events=span.events, files=len(files))
    return manifest


def _file_tables(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.Table]:
    """Tables of FILE_EVENTS rows (the last one fewer), in order."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        rest = batch
        while rest.num_rows:
            take = min(rest.num_rows, FILE_EVENTS - rows)
            pending.append(rest.slice(0, take))
            rows += take
            rest = rest.slice(take)
            if rows == FILE_EVENTS:
                yield pa.Table.from_batches(pending, schema=SCHEMA)
                pending, rows = [], 0
    if rows:
        yield pa.Table.from_batches(pending, schema=SCHEMA)


def _write_file(write: Callable[[str, bytes], None], table: pa.Table) -> ArchiveFile:
    positions = table.column("global_position")
    first, last = positions[0].as_py(), positions[-1].as_py()
    content = parquet_bytes(table)
    name = file_name(first)
    write(name, content)
    return ArchiveFile(
        name, table.num_rows, first, last, len(content), hashlib.sha256(content).hexdigest()
    )


def _record(archive_log: ArchiveLog, destination: Destination, manifest: DayManifest) -> None:
    archive_log.record_day(
        ArchivedDay(
            manifest.day,
            destination.location(manifest.day),
            manifest.events,
            manifest.first_position,
            manifest.last_position,
            manifest.size,
            manifest.content_hash,
        )
    )


def _record_unrecorded(
    archive_log: ArchiveLog, destination: Destination, published: list[DayManifest]
) -> None:
    recorded = {archived.day for archived in archive_log.days()}
    for manifest in published:
        if manifest.day not in recorded:
            _record(archive_log, destination, manifest)
