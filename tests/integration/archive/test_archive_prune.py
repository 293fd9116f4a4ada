"""Prune: only archived, verified days leave the live store, through the database's audited
function; reads of a pruned range say where the archive is; a rebuild reads the archive."""

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.archive.backdated import write_days
from tuskflow.archive.destination import Destination
from tuskflow.archive.export import export
from tuskflow.archive.prune import prune
from tuskflow.archive.read_through import pruned_log
from tuskflow.archive.verify import verify_day
from tuskflow.eventstore import NewEvent, PostgresEventStore
from tuskflow.eventstore.errors import PrunedRangeError
from tuskflow.eventstore.postgres.archive_log import ArchiveLog
from tuskflow.eventstore.postgres.projection import ProjectionRunner
from tuskflow.eventstore.projections import EventCounts

TODAY = date.today()
YESTERDAY = TODAY - timedelta(
    days=1
)  # every export stops there: a test across midnight still holds
FIRST, SECOND = TODAY - timedelta(days=4), TODAY - timedelta(days=3)


def _counts(url: str) -> dict[str, tuple[int, int]]:
    with psycopg.connect(url) as conn:
        rows: list[Any] = conn.execute(
            "SELECT event_type, events, last_position FROM projection_event_counts"
        ).fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def _archived(url: str, root: Path, *, verified: bool) -> Destination:
    write_days(url, {FIRST: 60, SECOND: 40})
    with PostgresEventStore(url) as store:
        store.append("live-1", [NewEvent("Reading0", {"i": -1})])
    destination = Destination(str(root))
    with ArchiveLog(url) as archive_log:
        result = export(archive_log, destination, settle_s=0, until=YESTERDAY)
        if verified:
            for manifest in result.exported:
                assert verify_day(archive_log, destination, manifest.day).ok
    return destination


def test_prune_refuses_a_day_not_verified_and_deletes_nothing(
    migrated_url: str, tmp_path: Path
) -> None:
    _archived(migrated_url, tmp_path, verified=False)
    with ArchiveLog(migrated_url) as archive_log:
        result = prune(archive_log, SECOND + timedelta(days=1), "tester")
        assert archive_log.prunes() == []
        assert archive_log.day_range(FIRST).events == 60
    assert result.pruned == []
    assert (
        result.refused
        == f"day {FIRST} is archived but not verified: run tuskflow archive verify {FIRST}"
    )


def test_prune_refuses_a_day_not_archived(migrated_url: str, tmp_path: Path) -> None:
    write_days(migrated_url, {FIRST: 5})
    with ArchiveLog(migrated_url) as archive_log:
        result = prune(archive_log, TODAY, "tester")
    assert result.refused == f"day {FIRST} is not archived: run tuskflow archive export first"


def test_prune_removes_verified_days_and_records_who_did_it(
    migrated_url: str, tmp_path: Path
) -> None:
    _archived(migrated_url, tmp_path, verified=True)
    with ArchiveLog(migrated_url) as archive_log:
        result = prune(archive_log, SECOND + timedelta(days=1), "ops@example")
        again = prune(archive_log, SECOND + timedelta(days=1), "ops@example")
        audit = archive_log.prunes()
        live = [archive_log.day_range(day).events for day in (FIRST, SECOND)]
    assert [(day.day, day.events) for day in result.pruned] == [(FIRST, 60), (SECOND, 40)]
    assert again.pruned == []
    assert again.refused is None
    assert live == [0, 0]
    assert [(r.day, r.events_deleted, r.pruned_by) for r in audit] == [
        (FIRST, 60, "ops@example"),
        (SECOND, 40, "ops@example"),
    ]
    assert audit[0].first_position == 1
    assert audit[1].last_position == 100
    assert audit[0].database_user
    assert audit[0].application_name == "tuskflow-archive"


def test_a_plain_delete_is_still_refused_after_a_prune(migrated_url: str, tmp_path: Path) -> None:
    _archived(migrated_url, tmp_path, verified=True)
    with ArchiveLog(migrated_url) as archive_log:
        prune(archive_log, SECOND, "tester")
    with (
        psycopg.connect(migrated_url, autocommit=True) as conn,
        pytest.raises(psycopg.Error, match="append-only: DELETE on events is refused"),
    ):
        conn.execute("DELETE FROM events WHERE stream_id = 'live-1'")


def test_a_forged_prune_record_cannot_delete_another_day(migrated_url: str, tmp_path: Path) -> None:
    _archived(migrated_url, tmp_path, verified=True)
    with psycopg.connect(migrated_url) as conn:
        conn.execute(
            "INSERT INTO event_prunes (day, location, pruned_by) VALUES (%s, 'x', 'forger')",
            [FIRST],
        )
        with pytest.raises(psycopg.Error, match=f"a prune of {FIRST} may delete only that day"):
            conn.execute("DELETE FROM events WHERE stream_id = 'live-1'")


def test_reads_of_a_pruned_range_say_where_the_archive_is(
    migrated_url: str, tmp_path: Path
) -> None:
    _archived(migrated_url, tmp_path, verified=True)
    with ArchiveLog(migrated_url) as archive_log:
        prune(archive_log, SECOND + timedelta(days=1), "tester")
    with PostgresEventStore(migrated_url) as store:
        with pytest.raises(PrunedRangeError) as whole:
            store.read_all(0)
        with pytest.raises(PrunedRangeError, match="positions after 50 include events pruned"):
            store.read_all(50)
        with pytest.raises(PrunedRangeError, match=f"versions 1 and on of 'meter-{FIRST}-1'"):
            store.read_stream(f"meter-{FIRST}-1")
        assert [event.stream_id for event in store.read_all(100)] == ["live-1"]
        assert store.read_stream("live-1")[0].stream_version == 1
        assert store.read_stream("live-1", 2) == []
        assert store.read_stream("never-written") == []
    assert str(whole.value) == (
        f"positions after 0 include events pruned from the live store (days {FIRST}, {SECOND});"
        f" they are in the archive at {tmp_path} (tuskflow archive read DAY)"
    )


def test_a_projection_rebuilt_from_zero_after_a_prune_equals_the_one_before(
    migrated_url: str, tmp_path: Path
) -> None:
    destination = _archived(migrated_url, tmp_path, verified=True)
    runner = ProjectionRunner(migrated_url, EventCounts(), batch_size=17)
    runner.rebuild()
    before = _counts(migrated_url)
    with ArchiveLog(migrated_url) as archive_log:
        prune(archive_log, SECOND + timedelta(days=1), "tester")
        with pytest.raises(PrunedRangeError):
            runner.rebuild()
        log = pruned_log(archive_log, destination)
        applied = runner.rebuild(pruned=log.events, pruned_through=log.through)
    assert applied == 101
    assert _counts(migrated_url) == before


def test_a_projection_past_the_pruned_days_keeps_following_the_live_store(
    migrated_url: str, tmp_path: Path
) -> None:
    _archived(migrated_url, tmp_path, verified=True)
    runner = ProjectionRunner(migrated_url, EventCounts(), batch_size=17)
    runner.catch_up()
    with ArchiveLog(migrated_url) as archive_log:
        prune(archive_log, SECOND + timedelta(days=1), "tester")
    with PostgresEventStore(migrated_url) as store:
        store.append("live-2", [NewEvent("Reading1", {"i": -2}), NewEvent("Later", {})])
    applied = runner.catch_up()
    assert applied == 2
    assert _counts(migrated_url)["Later"] == (1, 103)
