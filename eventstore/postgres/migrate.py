"""Versioned schema migrations: SQL files in eventstore/migrations, applied once each, in order.

Safe from two processes at once: the runner holds a session-level advisory lock while it reads
what is applied and applies the rest, so the second process waits and then finds nothing to do.
An applied migration whose file changed since is refused rather than silently skipped.
"""

import hashlib
from dataclasses import dataclass
from importlib import resources

import structlog
from psycopg import sql

from tuskflow.config.database import Connection, connect, database_errors
from tuskflow.config.errors import PermanentError

MIGRATIONS_TABLE = sql.Identifier("schema_migrations")
_MIGRATION_LOCK = 7400130002
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Migration:
    """One SQL file: its number, name and text."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the text, recorded when applied."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    """The migrations shipped with tuskflow, in order."""
    found = []
    for entry in resources.files("tuskflow.eventstore.migrations").iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text()))
    return sorted(found, key=lambda migration: migration.version)


def migrate(url: str) -> list[Migration]:
    """Apply every migration not yet applied; return those applied now."""
    with database_errors(url), connect(url, "migrate") as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [_MIGRATION_LOCK])
        try:
            return _apply_pending(conn)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [_MIGRATION_LOCK])


def _apply_pending(conn: Connection) -> list[Migration]:
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        ).format(MIGRATIONS_TABLE)
    )
    applied = {
        version: checksum
        for version, checksum in conn.execute(
            sql.SQL("SELECT version, checksum FROM {}").format(MIGRATIONS_TABLE)
        ).fetchall()
    }
    done = []
    for migration in available():
        recorded = applied.get(migration.version)
        if recorded is not None:
            if recorded != migration.checksum:
                raise PermanentError(
                    f"migration {migration.version:04d}_{migration.name} was applied with other "
                    "content; applied migrations must never change: add a new migration instead"
                )
            continue
        with conn.transaction():
            conn.execute(migration.sql.encode())
            conn.execute(
                sql.SQL("INSERT INTO {} (version, name, checksum) VALUES (%s, %s, %s)").format(
                    MIGRATIONS_TABLE
                ),
                [migration.version, migration.name, migration.checksum],
            )
        log.info("migration.applied", version=migration.version, name=migration.name)
        done.append(migration)
    return done
