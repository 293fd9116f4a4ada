"""The eventsourcing library's PostgreSQL application recorder, driven directly for benchmarks."""

from __future__ import annotations

import os
import sys
import time
import uuid
from types import TracebackType
from typing import Self
from urllib.parse import unquote, urlsplit

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import sql

EVENTS_TABLE = "stored_events"
"""The events table the reference recorder writes, inside its own schema."""

_URL_SCHEMES = ("postgresql", "postgres")


def _datastore_from_dsn(dsn: str, schema: str) -> PostgresDatastore:
    """Build the library's datastore (its own connection pool) from a postgresql:// URL."""
    parts = urlsplit(dsn)
    if parts.scheme not in _URL_SCHEMES:
        raise ValueError(f"not a postgresql:// URL: {dsn!r}")
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        raise ValueError(f"no database name in URL: {dsn!r}")
    return PostgresDatastore(
        dbname=dbname,
        host=parts.hostname or "localhost",
        port=parts.port or 5432,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        schema=schema,
    )


class EventsourcingReference:
    """eventsourcing's PostgresApplicationRecorder in its own schema, behind a tiny API."""

    def __init__(self, dsn: str, schema: str = "es_bench") -> None:
        """Connect, create the schema if missing, and let the library create its tables."""
        self.schema = schema
        self._datastore = _datastore_from_dsn(dsn, schema)
        try:
            # The library puts every object in `schema` but expects the schema to exist.
            with self._datastore.transaction(commit=True) as curs:
                curs.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                )
            self._recorder = PostgresApplicationRecorder(
                self._datastore, events_table_name=EVENTS_TABLE
            )
            self._recorder.create_table()
        except BaseException:
            self._datastore.close()
            raise

    def reset(self) -> None:
        """Empty the events table and restart its notification id sequence."""
        statement = sql.SQL("TRUNCATE TABLE {}.{} RESTART IDENTITY").format(
            sql.Identifier(self.schema), sql.Identifier(EVENTS_TABLE)
        )
        with self._datastore.transaction(commit=True) as curs:
            curs.execute(statement)

    def save_single(self, aggregate_id: uuid.UUID, version: int, topic: str, state: bytes) -> None:
        """Record one stored event in its own transaction (one insert_events call)."""
        event = StoredEvent(
            originator_id=aggregate_id, originator_version=version, topic=topic, state=state
        )
        self._recorder.insert_events([event])

    def save_many(self, events: list[tuple[uuid.UUID, int, str, bytes]]) -> None:
        """Record many stored events in one insert_events call, hence one transaction."""
        self._recorder.insert_events(
            [
                StoredEvent(
                    originator_id=aggregate_id,
                    originator_version=version,
                    topic=topic,
                    state=state,
                )
                for aggregate_id, version, topic, state in events
            ]
        )

    def read_all(self, batch: int = 1000) -> int:
        """Page through every notification from the start, `batch` at a time; return the count."""
        if batch < 1:
            raise ValueError(f"batch must be positive, not {batch}")
        count = 0
        after: int | None = None
        while True:
            page = self._recorder.select_notifications(
                start=after, limit=batch, inclusive_of_start=False
            )
            count += len(page)
            if len(page) < batch:
                return count
            after = page[-1].id

    def replay(self, aggregate_id: uuid.UUID) -> int:
        """Read every stored event of one aggregate; return how many there were."""
        return len(self._recorder.select_events(aggregate_id))

    def close(self) -> None:
        """Close the library's connection pool."""
        self._datastore.close()

    def __enter__(self) -> Self:
        """Use as a context manager that closes on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connection pool."""
        self.close()


def _rate(count: int, seconds: float) -> str:
    """Format a count over a duration as events per second."""
    return f"{count / seconds:,.0f}/s" if seconds > 0 else "inf/s"


def _smoke(dsn: str) -> None:
    """Save 200 single events and a 1000-event batch, read them all back, replay one aggregate."""
    topic = "bench.reference:Happened"
    singles, batch_size = 200, 1000
    with EventsourcingReference(dsn) as ref:
        ref.reset()
        single_id = uuid.uuid4()
        started = time.perf_counter()
        for version in range(1, singles + 1):
            ref.save_single(single_id, version, topic, b'{"n":%d}' % version)
        single_s = time.perf_counter() - started

        batch_id = uuid.uuid4()
        events = [(batch_id, v, topic, b'{"n":%d}' % v) for v in range(1, batch_size + 1)]
        started = time.perf_counter()
        ref.save_many(events)
        batch_s = time.perf_counter() - started

        try:
            ref.save_single(single_id, 1, topic, b"{}")
        except IntegrityError:
            conflict = "IntegrityError (as expected)"
        else:
            conflict = "no error (unexpected)"

        started = time.perf_counter()
        read = ref.read_all()
        read_s = time.perf_counter() - started

        started = time.perf_counter()
        replayed = ref.replay(single_id)
        replay_s = time.perf_counter() - started

    print(f"save_single: {singles} events in {single_s:.3f}s ({_rate(singles, single_s)})")
    print(f"save_many:   {batch_size} events in {batch_s:.3f}s ({_rate(batch_size, batch_s)})")
    print(f"duplicate (id, version): {conflict}")
    print(f"read_all:    {read} notifications in {read_s:.3f}s ({_rate(read, read_s)})")
    print(f"replay:      {replayed} events in {replay_s:.3f}s ({_rate(replayed, replay_s)})")
    if read != singles + batch_size or replayed != singles:
        sys.exit(f"counts wrong: read {read}, replayed {replayed}")


if __name__ == "__main__":
    _dsn = os.environ.get("TUSKFLOW_DATABASE_URL")
    if not _dsn:
        sys.exit('set TUSKFLOW_DATABASE_URL (eval "$(tuskflow local env)")')
    _smoke(_dsn)
