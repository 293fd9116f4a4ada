"""What the database itself guarantees: migrations, append-only events, notifications, rollback."""

import threading
import time
import uuid

import psycopg
import pytest
from psycopg import sql

from tests.fix_services import with_search_path
from tuskflow.config.errors import PermanentError
from tuskflow.eventstore import NewEvent, PostgresEventStore, StreamEvent
from tuskflow.eventstore.postgres import _append as append
from tuskflow.eventstore.postgres.migrate import available, migrate
from tuskflow.eventstore.postgres.notify import NotifyWaker


@pytest.fixture
def empty_schema_url(postgres_url: str) -> str:
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return with_search_path(postgres_url, schema)


def test_migrate_applies_once_and_then_has_nothing_to_do(empty_schema_url: str) -> None:
    first = migrate(empty_schema_url)
    second = migrate(empty_schema_url)

    assert [m.version for m in first] == [m.version for m in available()]
    assert second == []


def test_migrate_from_two_processes_at_once_applies_each_migration_once(
    empty_schema_url: str,
) -> None:
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(len(migrate(empty_schema_url)))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(results) == [0, 0, 0, len(available())]
    with psycopg.connect(empty_schema_url) as conn:
        recorded = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
    assert recorded == (len(available()),)


def test_applied_migration_that_changed_is_refused(empty_schema_url: str) -> None:
    migrate(empty_schema_url)
    with psycopg.connect(empty_schema_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")

    with pytest.raises(PermanentError, match="applied migrations must never change"):
        migrate(empty_schema_url)


@pytest.mark.parametrize(
    "statement",
    ["UPDATE events SET data = '{}'", "DELETE FROM events", "TRUNCATE events"],
)
def test_database_refuses_to_change_or_remove_events(migrated_url: str, statement: str) -> None:
    with PostgresEventStore(migrated_url) as store:
        store.append("order-1", [NewEvent("Placed", {"total": 1})])

    with psycopg.connect(migrated_url) as conn:
        with pytest.raises(psycopg.DatabaseError, match="events are append-only") as refused:
            conn.execute(statement.encode())
        conn.rollback()
        count = conn.execute("SELECT count(*) FROM events").fetchone()

    assert refused.value.sqlstate == "TFE01"
    assert count == (1,)


def test_batch_in_a_rolled_back_transaction_leaves_nothing(migrated_url: str) -> None:
    items = [StreamEvent(f"meter-{i}", NewEvent("Read", {"i": i})) for i in range(50)]
    with psycopg.connect(migrated_url) as conn:
        result = append.append_batch(conn, items, 1 << 20)
        conn.rollback()
        stored = conn.execute("SELECT count(*) FROM events").fetchone()
        streams = conn.execute("SELECT count(*) FROM streams").fetchone()

    assert len(result.new) == 50
    assert stored == (0,)
    assert streams == (0,)


@pytest.mark.parametrize("path", ["single", "batch"])
def test_committed_append_wakes_a_listener(migrated_url: str, path: str) -> None:
    timeout_s = 30.0
    waker = NotifyWaker(migrated_url)
    waker.wait(0.01)  # LISTEN is in place from here on
    waited: list[float] = []

    def listen() -> None:
        started = time.monotonic()
        waker.wait(timeout_s)
        waited.append(time.monotonic() - started)

    listener = threading.Thread(target=listen)
    listener.start()
    with PostgresEventStore(migrated_url) as store:
        if path == "single":
            store.append("order-1", [NewEvent("Placed", {})])
        else:
            store.append_batch([StreamEvent("order-1", NewEvent("Placed", {}))])
    listener.join(timeout=timeout_s + 5)
    waker.close()

    # Woken by the commit, not by the timeout running out.
    assert waited
    assert waited[0] < timeout_s / 3
