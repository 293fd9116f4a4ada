"""Archive export and verify against a real PostgreSQL: sealed days only, whole days, re-runs
that change nothing, and verify that compares every field with the store."""

import hashlib
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.integration.archive.backdated import AWKWARD_STREAM, write_days
from tuskflow.archive import export as export_module
from tuskflow.archive.destination import Destination
from tuskflow.archive.event_table import recorded_events, table_from_parquet
from tuskflow.archive.export import export
from tuskflow.archive.verify import verify_day
from tuskflow.eventstore import NewEvent, PostgresEventStore
from tuskflow.eventstore.postgres.archive_log import ArchiveLog

TODAY = date.today()
YESTERDAY = TODAY - timedelta(
    days=1
)  # every export stops there: a test across midnight still holds
DAYS = {TODAY - timedelta(days=5): 130, TODAY - timedelta(days=3): 95, TODAY - timedelta(days=2): 1}


@pytest.fixture(autouse=True)
def _small_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_module, "FILE_EVENTS", 40)  # several files per day


def tree_hashes(root: Path) -> dict[str, str]:
    """Every file under the archive by path, with the SHA-256 of its bytes."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_export_of_several_days_verifies_equal_to_the_store(
    migrated_url: str, tmp_path: Path
) -> None:
    write_days(migrated_url, DAYS)
    with PostgresEventStore(migrated_url) as store:
        store.append("today-1", [NewEvent("Now", {})])
    destination = Destination(str(tmp_path))
    with ArchiveLog(migrated_url) as archive_log:
        result = export(archive_log, destination, settle_s=0, until=YESTERDAY)
        verdicts = [verify_day(archive_log, destination, m.day) for m in result.exported]
        recorded = archive_log.days()
    exported = {manifest.day: manifest.events for manifest in result.exported}
    first = min(DAYS)
    assert exported == {
        first + timedelta(days=n): DAYS.get(first + timedelta(days=n), 0) for n in range(5)
    }  # empty days are sealed too; today is not
    assert [len(m.files) for m in result.exported] == [4, 0, 3, 1, 0]
    assert all(verdict.ok and verdict.against_store for verdict in verdicts)
    assert [archived.verified_hash for archived in recorded] == [
        m.content_hash for m in result.exported
    ]
    events = [
        event
        for part in result.exported[0].files
        for event in recorded_events(table_from_parquet(destination.read(first, part.name)))
    ]
    with PostgresEventStore(migrated_url) as store:
        assert events == store.read_all(0, limit=130)
    assert any(event.stream_id == AWKWARD_STREAM for event in events)


def test_export_run_twice_changes_nothing(migrated_url: str, tmp_path: Path) -> None:
    write_days(migrated_url, DAYS)
    destination = Destination(str(tmp_path))
    with ArchiveLog(migrated_url) as archive_log:
        export(archive_log, destination, settle_s=0, until=YESTERDAY)
        before = tree_hashes(tmp_path)
        again = export(archive_log, destination, settle_s=0, until=YESTERDAY)
    assert again.exported == []
    assert tree_hashes(tmp_path) == before


def test_the_same_days_exported_anywhere_are_the_same_bytes(
    migrated_url: str, tmp_path: Path
) -> None:
    write_days(migrated_url, DAYS)
    with ArchiveLog(migrated_url) as archive_log:
        export(archive_log, Destination(str(tmp_path / "a")), settle_s=0, until=YESTERDAY)
        archive_log.conn.execute("DELETE FROM archive_days")
        export(archive_log, Destination(str(tmp_path / "b")), settle_s=0, until=YESTERDAY)
    assert tree_hashes(tmp_path / "a") == tree_hashes(tmp_path / "b")


def test_an_event_written_late_into_an_unsealed_day_is_included(
    migrated_url: str, tmp_path: Path
) -> None:
    late_day = TODAY - timedelta(days=2)
    write_days(migrated_url, {late_day: 10})
    destination = Destination(str(tmp_path))
    with ArchiveLog(migrated_url) as archive_log:
        unsettled = export(archive_log, destination, settle_s=4 * 86_400)
        write_days(migrated_url, {late_day: 5})
        settled = export(archive_log, destination, settle_s=0, until=YESTERDAY)
    assert unsettled.exported == []
    assert [(m.day, m.events) for m in settled.exported] == [
        (late_day, 15),
        (late_day + timedelta(days=1), 0),
    ]


def test_verify_names_a_file_whose_bytes_changed(migrated_url: str, tmp_path: Path) -> None:
    day = min(DAYS)
    write_days(migrated_url, {day: 50})
    destination = Destination(str(tmp_path))
    with ArchiveLog(migrated_url) as archive_log:
        export(archive_log, destination, settle_s=0, until=day)
        manifest = destination.manifest(day)
        assert manifest is not None
        broken = tmp_path / f"day={day}" / manifest.files[1].name
        broken.write_bytes(broken.read_bytes()[:-8] + b"\0" * 8)
        verdict = verify_day(archive_log, destination, day)
        recorded = archive_log.days()[0]
    assert verdict.problems == [
        f"{manifest.files[1].name}: its bytes do not match the manifest's SHA-256"
    ]
    assert recorded.verified_at is None


def test_verify_names_an_event_the_archive_lacks(migrated_url: str, tmp_path: Path) -> None:
    day = min(DAYS)
    write_days(migrated_url, {day: 50})
    destination = Destination(str(tmp_path))
    with ArchiveLog(migrated_url) as archive_log:
        export(archive_log, destination, settle_s=0, until=day)
        write_days(migrated_url, {day: 1})  # written into a sealed day, by hand
        verdict = verify_day(archive_log, destination, day)
    assert verdict.problems == ["the archive holds 50 events, the store 51"]
