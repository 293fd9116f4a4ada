"""The archive in an object store, end to end against a real S3-compatible server."""

import hashlib
import uuid
from datetime import date, timedelta

from pyarrow import fs

from tests.fix_services import s3_url
from tests.integration.archive.backdated import write_days
from tuskflow.archive.destination import Destination
from tuskflow.archive.event_table import recorded_events, table_from_parquet
from tuskflow.archive.export import export
from tuskflow.archive.prune import prune
from tuskflow.archive.read_through import pruned_log
from tuskflow.archive.verify import verify_day
from tuskflow.eventstore import PostgresEventStore
from tuskflow.eventstore.postgres.archive_log import ArchiveLog

TODAY = date.today()
YESTERDAY = TODAY - timedelta(
    days=1
)  # every export stops there: a test across midnight still holds


def _objects(destination: Destination) -> dict[str, str]:
    selector = fs.FileSelector(destination.root, recursive=True)
    return {
        info.path: hashlib.sha256(destination.read_path(info.path)).hexdigest()
        for info in destination.filesystem.get_file_info(selector)
        if info.type == fs.FileType.File
    }


def test_an_archive_in_s3_exports_verifies_reads_back_and_prunes(
    migrated_url: str, s3_endpoint: str
) -> None:
    days = {TODAY - timedelta(days=3): 70, TODAY - timedelta(days=2): 30}
    write_days(migrated_url, days)
    with PostgresEventStore(migrated_url) as store:
        stored = store.read_all(0)
    destination = Destination(s3_url(s3_endpoint, f"archive-{uuid.uuid4().hex[:8]}", "log"))
    with ArchiveLog(migrated_url) as archive_log:
        result = export(archive_log, destination, settle_s=0, until=YESTERDAY)
        objects = _objects(destination)
        assert export(archive_log, destination, settle_s=0, until=YESTERDAY).exported == []
        assert _objects(destination) == objects
        verdicts = [verify_day(archive_log, destination, m.day) for m in result.exported]
        pruned = prune(archive_log, TODAY, "tester")
        log = pruned_log(archive_log, destination)
        read_back = list(log.events)
        recorded = archive_log.days()
    assert [(m.day, m.events) for m in result.exported] == [
        *sorted(days.items()),
        (TODAY - timedelta(days=1), 0),
    ]
    assert all(verdict.ok for verdict in verdicts)
    assert pruned.refused is None
    assert sum(day.events for day in pruned.pruned) == 100
    assert read_back == stored
    assert recorded[0].location.startswith("s3://archive-")
    assert "secret" not in recorded[0].location
    events = [
        event
        for part in result.exported[0].files
        for event in recorded_events(
            table_from_parquet(destination.read(result.exported[0].day, part.name))
        )
    ]
    assert events == stored[:70]
