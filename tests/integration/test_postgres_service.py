"""The PostgreSQL that tests use is a real server reached with psycopg 3."""

import uuid
from datetime import UTC, datetime

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb


def test_round_trip_keeps_types_and_parameters(postgres_url: str) -> None:
    row = (uuid.uuid4(), 2**40, {"name": "O'Reilly", "tags": ["a", "b"]}, datetime.now(UTC))
    with psycopg.connect(postgres_url) as conn:
        conn.execute(
            "CREATE TEMP TABLE sample (id uuid PRIMARY KEY, n bigint, doc jsonb, at timestamptz)"
        )
        conn.execute(
            "INSERT INTO sample VALUES (%s, %s, %s, %s)", [*row[:2], Jsonb(row[2]), row[3]]
        )
        stored = conn.execute("SELECT id, n, doc, at FROM sample").fetchone()
        version = conn.execute("SHOW server_version_num").fetchone()

    assert stored == row
    assert version is not None
    assert int(version[0]) >= 140000


def test_uncommitted_rows_are_invisible_to_another_connection(postgres_url: str) -> None:
    table = sql.Identifier(f"visibility_{uuid.uuid4().hex[:12]}")
    count = sql.SQL("SELECT count(*) FROM {}").format(table)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE TABLE {} (n int)").format(table))
    try:
        with psycopg.connect(postgres_url) as writer, psycopg.connect(postgres_url) as reader:
            writer.execute(sql.SQL("INSERT INTO {} VALUES (1)").format(table))
            before = reader.execute(count).fetchone()
            reader.rollback()
            writer.commit()
            after = reader.execute(count).fetchone()
        assert before == (0,)
        assert after == (1,)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP TABLE {}").format(table))
