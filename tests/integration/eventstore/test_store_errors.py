"""PostgresEventStore's boundary: no psycopg error leaves it, and its pool outlives dropped
connections."""

import socket
import uuid

import psycopg
import pytest
from psycopg import sql

from tests.fix_services import with_search_path
from tuskflow.config.errors import DatabaseRefusedError, DatabaseUnavailableError
from tuskflow.eventstore import NewEvent, PostgresEventStore


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_database_raises_database_unavailable_quickly_when_fail_fast() -> None:
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/tuskflow"
    with PostgresEventStore(url, fail_fast=True) as store:
        with pytest.raises(DatabaseUnavailableError, match="unreachable"):
            store.head()
        with pytest.raises(DatabaseUnavailableError):
            store.write_batch(store.prepare([]))


def test_statement_postgres_refuses_raises_database_refused(postgres_url: str) -> None:
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        with (
            PostgresEventStore(with_search_path(postgres_url, schema)) as store,
            pytest.raises(DatabaseRefusedError, match="refused the statement"),
        ):
            store.append("order-1", [NewEvent("Placed", {})])  # not migrated: no tables
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def test_pool_replaces_connections_postgresql_dropped(migrated_url: str) -> None:
    role = f"probe-{uuid.uuid4().hex[:8]}"
    with PostgresEventStore(migrated_url, role=role) as store:
        store.append("order-1", [NewEvent("Placed", {})])
        with psycopg.connect(migrated_url, autocommit=True) as admin:
            killed = admin.execute(
                # Waits (up to 5 s) until each backend is gone: the next call cannot race it.
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
                " WHERE application_name = %s",
                [f"tuskflow-{role}"],
            ).fetchone()

        version = store.stream_version("order-1")

    assert killed is not None
    assert killed[0] >= 1
    assert version == 1
