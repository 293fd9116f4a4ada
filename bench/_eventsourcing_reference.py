"""The eventsourcing library on PostgreSQL, as two benchmark references.

- ``EventsourcingReference`` drives its low-level ``PostgresApplicationRecorder`` directly:
  stored events in, notifications and stored events out, the state as undecoded bytes.
- ``EventsourcingApplicationReference`` uses the library as an application would: an
  ``Application`` with an ``Aggregate`` whose events its mapper transcodes to JSON, saved with
  ``app.save()``, read back through the notification log and the mapper, and replayed with
  ``app.repository.get()``.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from types import TracebackType
from typing import NamedTuple, Self
from urllib.parse import unquote, urlsplit

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.utils import Environment, EnvType
from psycopg import sql

EVENTS_TABLE = "stored_events"
"""The events table the reference recorder writes, inside its own schema."""

_URL_SCHEMES = ("postgresql", "postgres")


class _Server(NamedTuple):
    """Where to connect, as the library takes it: no URL, one setting each."""

    dbname: str
    host: str
    port: int
    user: str
    password: str


def _server_from_dsn(dsn: str) -> _Server:
    """Split a postgresql:// URL into the library's connection settings."""
    parts = urlsplit(dsn)
    if parts.scheme not in _URL_SCHEMES:
        raise ValueError(f"not a postgresql:// URL: {dsn!r}")
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        raise ValueError(f"no database name in URL: {dsn!r}")
    return _Server(
        dbname=dbname,
        host=parts.hostname or "localhost",
        port=parts.port or 5432,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


def _datastore_from_dsn(dsn: str, schema: str) -> PostgresDatastore:
    """Build the library's datastore (its own connection pool) from a postgresql:// URL."""
    server = _server_from_dsn(dsn)
    return PostgresDatastore(
        dbname=server.dbname,
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password,
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


# --- the application level ---------------------------------------------------------------------

# Every measurement is {"value": i, "unit": "kg", "site": "north-7"}, as in the benchmark.
UNIT = "kg"
SITE = "north-7"


class Meter(Aggregate):
    """A meter summing its measurements, created by its first one.

    The "created" event carries the first measurement, so a meter of n measurements is n
    events at version n, like a stream of n events in tuskflow's store.
    """

    def __init__(self, value: int, unit: str, site: str) -> None:
        """Start the running total at the first measurement (``Meter.Created``)."""
        self.total = value

    class Measured(Aggregate.Event):
        """One more measurement."""

        value: int
        unit: str
        site: str

        def apply(self, aggregate: Meter) -> None:
            """Add the measured value to the running total."""
            aggregate.total += self.value

    def measure(self, value: int, unit: str = UNIT, site: str = SITE) -> None:
        """Trigger a ``Measured`` event (pending until the application saves the meter)."""
        self.trigger_event(self.Measured, value=value, unit=unit, site=site)


class MeterApplication(Application[uuid.UUID]):
    """An eventsourcing application of meters, configured only by the env it is given.

    Its events table is ``meterapplication_events`` in the schema named by POSTGRES_SCHEMA.
    """

    log_section_size = 10_000

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """The given settings only: a stray PERSISTENCE_MODULE, POSTGRES_* or
        IS_SNAPSHOTTING_ENABLED in the shell cannot change what is measured."""
        return Environment(name, dict(env or {}))


def application_env(dsn: str, schema: str) -> dict[str, str]:
    """The settings of a plain PostgreSQL application: JSON transcoder, no snapshots, no cache.

    Every setting that could change the measured path is spelled out at its library default,
    except the pool: one connection is all a single-threaded bench uses (the library's default
    opens five up front, and idle ones only add background work).
    """
    server = _server_from_dsn(dsn)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": server.dbname,
        "POSTGRES_HOST": server.host,
        "POSTGRES_PORT": str(server.port),
        "POSTGRES_USER": server.user,
        "POSTGRES_PASSWORD": server.password,
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": "0",
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        "IS_SNAPSHOTTING_ENABLED": "n",
        "AGGREGATE_CACHE_MAXSIZE": "",
        "TRANSCODER_TOPIC": "",
        "COMPRESSOR_TOPIC": "",
        "CIPHER_TOPIC": "",
        "CIPHER_KEY": "",
    }


class EventsourcingApplicationReference:
    """An eventsourcing ``Application`` of ``Meter`` aggregates in its own schema.

    Writes go through ``app.save()`` (the mapper transcodes each event to JSON), reads decode
    every notification into a domain event with the application's mapper, and replays use
    ``app.repository.get()`` (select, decode, apply). Snapshotting and the aggregate cache are
    off, as they are by default.
    """

    def __init__(self, dsn: str, schema: str = "es_app_bench") -> None:
        """Create the schema if missing, then build the application (it creates its table)."""
        self.schema = schema
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        self.app = MeterApplication(env=application_env(dsn, schema))
        try:
            factory, recorder = self.app.factory, self.app.recorder
            if not isinstance(factory, PostgresFactory) or not isinstance(
                recorder, PostgresApplicationRecorder
            ):
                raise TypeError(f"not on PostgreSQL: {type(factory)}, {type(recorder)}")
            if self.app.snapshots is not None or self.app.repository.cache is not None:
                raise ValueError("snapshotting and the aggregate cache must be off")
        except BaseException:
            self.app.close()
            raise
        self._datastore = factory.datastore
        self.events_table = recorder.events_table_name
        self._meters: dict[uuid.UUID, Meter] = {}

    def reset(self) -> None:
        """Empty the events table, restart its notification ids, forget the live meters."""
        statement = sql.SQL("TRUNCATE TABLE {}.{} RESTART IDENTITY").format(
            sql.Identifier(self.schema), sql.Identifier(self.events_table)
        )
        with self._datastore.transaction(commit=True) as curs:
            curs.execute(statement)
        self._meters.clear()

    def new_meter(self, n_events: int, first: int = 0) -> Meter:
        """A meter with ``n_events`` pending measurements valued ``first``, ``first + 1``, ..."""
        if n_events < 1:
            raise ValueError(f"a meter has at least one event, not {n_events}")
        meter = Meter(value=first, unit=UNIT, site=SITE)
        for value in range(first + 1, first + n_events):
            meter.measure(value)
        return meter

    def save(self, meter: Meter) -> None:
        """Save a meter's pending events with one ``app.save()``, hence one transaction.

        The meter stays in memory, so ``append_one`` can add to it without a ``get``.
        """
        self.app.save(meter)
        self._meters[meter.id] = meter

    def create(self, n_events: int, first: int = 0) -> uuid.UUID:
        """One meter with ``n_events`` events, saved in one ``app.save()``; its id."""
        meter = self.new_meter(n_events, first)
        self.save(meter)
        return meter.id

    def append_one(self, aggregate_id: uuid.UUID, value: int = 0) -> None:
        """One more measurement on a live meter, saved alone: one event, one transaction."""
        meter = self._meters[aggregate_id]
        meter.measure(value)
        self.app.save(meter)

    def read_all(self, batch: int = 1000) -> int:
        """Page through the notification log from the start, decoding every notification
        into a domain event with the application's mapper; return how many there were."""
        if not 1 <= batch <= self.app.log_section_size:
            raise ValueError(f"batch must be 1..{self.app.log_section_size}, not {batch}")
        log, to_domain_event = self.app.notification_log, self.app.mapper.to_domain_event
        count = 0
        after: int | None = None
        while True:
            page = log.select(after, batch, inclusive_of_start=False)
            count += len(list(map(to_domain_event, page)))
            if len(page) < batch:
                return count
            after = page[-1].id

    def replay(self, aggregate_id: uuid.UUID) -> int:
        """Reconstruct one meter from all its events (``app.repository.get``); its version."""
        meter: Meter = self.app.repository.get(aggregate_id)
        return meter.version

    def total(self, aggregate_id: uuid.UUID) -> int:
        """A replayed meter's running total."""
        meter: Meter = self.app.repository.get(aggregate_id)
        return meter.total

    def count(self) -> int:
        """Rows in the events table (a plain count, no decoding)."""
        statement = sql.SQL("SELECT count(*) AS n FROM {}.{}").format(
            sql.Identifier(self.schema), sql.Identifier(self.events_table)
        )
        with self._datastore.transaction() as curs:
            curs.execute(statement)
            row = curs.fetchone()
        return int(row["n"]) if row else 0

    def close(self) -> None:
        """Close the application (its connection pool)."""
        self.app.close()

    def __enter__(self) -> Self:
        """Use as a context manager that closes on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the application."""
        self.close()


def _rate(count: int, seconds: float) -> str:
    """Format a count over a duration as events per second."""
    return f"{count / seconds:,.0f}/s" if seconds > 0 else "inf/s"


def _smoke(dsn: str) -> None:
    """Exercise both references briefly against the database; exit non-zero on a wrong count."""
    _smoke_recorder(dsn)
    _smoke_application(dsn)


def _smoke_recorder(dsn: str) -> None:
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
        ref.reset()

    print("recorder level (es_bench)")
    print(f"save_single: {singles} events in {single_s:.3f}s ({_rate(singles, single_s)})")
    print(f"save_many:   {batch_size} events in {batch_s:.3f}s ({_rate(batch_size, batch_s)})")
    print(f"duplicate (id, version): {conflict}")
    print(f"read_all:    {read} notifications in {read_s:.3f}s ({_rate(read, read_s)})")
    print(f"replay:      {replayed} events in {replay_s:.3f}s ({_rate(replayed, replay_s)})")
    if read != singles + batch_size or replayed != singles:
        sys.exit(f"counts wrong: read {read}, replayed {replayed}")


def _smoke_application(dsn: str) -> None:
    """Create a meter and add 200 single saves, save a 1000-event meter, read all, replay."""
    singles, batch_size = 200, 1000
    with EventsourcingApplicationReference(dsn) as ref:
        ref.reset()
        single_id = ref.create(1)
        started = time.perf_counter()
        for value in range(1, singles + 1):
            ref.append_one(single_id, value)
        single_s = time.perf_counter() - started

        meter = ref.new_meter(batch_size)
        started = time.perf_counter()
        ref.save(meter)
        batch_s = time.perf_counter() - started

        started = time.perf_counter()
        read = ref.read_all()
        read_s = time.perf_counter() - started

        started = time.perf_counter()
        version = ref.replay(meter.id)
        replay_s = time.perf_counter() - started
        totals = (ref.total(single_id), ref.total(meter.id))
        stored = ref.count()
        ref.reset()

    print(f"application level ({ref.schema}.{ref.events_table})")
    print(f"append_one:  {singles} saves in {single_s:.3f}s ({_rate(singles, single_s)})")
    print(f"save:        {batch_size} events in {batch_s:.3f}s ({_rate(batch_size, batch_s)})")
    print(f"read_all:    {read} decoded in {read_s:.3f}s ({_rate(read, read_s)})")
    print(f"replay:      version {version} in {replay_s:.3f}s ({_rate(version, replay_s)})")
    expected = (sum(range(singles + 1)), sum(range(batch_size)))
    if (read, stored, version, totals) != (stored, 1 + singles + batch_size, batch_size, expected):
        sys.exit(f"wrong: read {read}, stored {stored}, version {version}, totals {totals}")


if __name__ == "__main__":
    _dsn = os.environ.get("TUSKFLOW_DATABASE_URL")
    if not _dsn:
        sys.exit('set TUSKFLOW_DATABASE_URL (eval "$(tuskflow local env)")')
    _smoke(_dsn)
