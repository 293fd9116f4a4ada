"""The PostgreSQL and event-store sinks against a real database, each test in a fresh schema."""

import datetime
import pickle
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

from tuskflow.config.errors import PermanentError
from tuskflow.etl.context import JobContext
from tuskflow.etl.errors import JobFailedError, SinkConflictError, SinkError
from tuskflow.etl.sinks import SinkWriter, open_sink
from tuskflow.etl.sinks.eventstore import EVENT_ID_NAMESPACE, EventStoreWriter
from tuskflow.etl.sinks.postgres import LEDGER, PostgresWriter
from tuskflow.etl.spec import EventStoreSink, PostgresSink
from tuskflow.eventstore import NewEvent, PostgresEventStore

Row = tuple[Any, ...]


@pytest.fixture
def schema(migrated_url: str) -> str:
    with psycopg.connect(migrated_url) as conn:
        row = conn.execute("SELECT current_schema()").fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture
def other_schema(postgres_url: str) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def _job(url: str, job_id: str = "job-1", attempt: int = 1) -> JobContext:
    return JobContext(job_id, attempt, url)


def _table_sink(table: str = "orders", mode: str = "create") -> PostgresSink:
    return PostgresSink.model_validate({"kind": "postgres", "table": table, "mode": mode})


def _orders(*ids: int) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "customer": pa.array([f"c{i % 2}" for i in ids], pa.large_string()),
        }
    )


def _run(writer: SinkWriter, *tables: pa.Table) -> str:
    writer.prepare()
    for index, table in enumerate(tables):
        writer.write(index, table)
    return writer.publish()


def _query(url: str, statement: str, *params: object) -> list[Row]:
    with psycopg.connect(url) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def _ids(url: str, table: str = "orders") -> list[int]:
    return [row[0] for row in _query(url, f"SELECT id FROM {table}")]  # noqa: S608


def _relation_exists(url: str, name: str) -> bool:
    row = _query(url, "SELECT to_regclass(%s) IS NOT NULL", name)
    return bool(row[0][0])


def _schema_of(url: str) -> str:
    return str(_query(url, "SELECT current_schema()")[0][0])


def _shipped(writer: SinkWriter) -> SinkWriter:
    """The copy a Dask worker gets: the writer pickled and unpickled."""
    shipped: SinkWriter = pickle.loads(pickle.dumps(writer))  # noqa: S301 (our own bytes)
    return shipped


def _relation_persistence(url: str, name: str) -> str:
    return str(
        _query(url, "SELECT relpersistence FROM pg_class WHERE oid = %s::regclass", name)[0][0]
    )


def _staging_tables(url: str) -> list[str]:
    rows = _query(url, "SELECT tablename FROM pg_tables WHERE tablename LIKE '%%\\_\\_tf\\_%%'")
    return [row[0] for row in rows]


def _eventstore_sink() -> EventStoreSink:
    return EventStoreSink.model_validate(
        {"kind": "eventstore", "stream_id": "concat('customer-', customer)", "event_type": "Sold"}
    )


def _events(url: str) -> list[Row]:
    return _query(
        url, "SELECT stream_id, stream_version, event_id, event_type, data FROM events"
        " ORDER BY global_position",
    )  # fmt: skip


def _event_ids(url: str) -> list[int]:
    return [row[4]["id"] for row in _events(url)]


def _at_once(*calls: Callable[[], object]) -> None:
    """Run the calls in threads started together, and wait for them all."""
    threads = [threading.Thread(target=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


@dataclass(frozen=True)
class _Destination:
    """A sink under test and how to read back what it published."""

    spec: Callable[[], PostgresSink | EventStoreSink]
    rows: Callable[[str], list[Row]]
    ids: Callable[[str], list[int]]
    location: Callable[[str], str]


_DESTINATIONS = {
    "postgres": _Destination(
        spec=_table_sink,  # mode create: a rerun must not take its own table for a conflict
        rows=lambda url: _query(url, "SELECT * FROM orders"),
        ids=_ids,
        location=lambda url: f"{_schema_of(url)}.orders",
    ),
    "eventstore": _Destination(
        spec=_eventstore_sink,
        rows=_events,
        ids=_event_ids,
        location=lambda _: "eventstore:Sold in 2 streams",
    ),
}


@pytest.fixture(params=list(_DESTINATIONS))
def destination(request: pytest.FixtureRequest) -> _Destination:
    """Each sink that publishes into PostgreSQL, in turn."""
    return _DESTINATIONS[request.param]


# PostgreSQL


def test_postgres_publishes_each_partition_once_in_job_order(
    migrated_url: str, schema: str, tmp_path: Path
) -> None:
    writer = open_sink(_table_sink(), _job(migrated_url))
    writer.prepare()
    writer.write(2, _orders(6))
    writer.write(0, _orders(1, 2))
    writer.write(1, _orders(3, 4, 5))
    writer.write(1, _orders(3, 4))  # Dask retried partition 1

    location = writer.publish()

    assert location == f"{schema}.orders"
    assert _ids(migrated_url) == [1, 2, 3, 4, 6]
    assert _staging_tables(migrated_url) == []
    assert _query(migrated_url, f"SELECT rows FROM {LEDGER}") == [(5,)]  # noqa: S608


def test_postgres_partitions_written_at_once_all_land(migrated_url: str, tmp_path: Path) -> None:
    writer = open_sink(_table_sink(), _job(migrated_url))
    writer.prepare()
    _at_once(
        *(partial(writer.write, index, _orders(index * 10, index * 10 + 1)) for index in range(8))
    )

    writer.publish()

    assert _ids(migrated_url) == [n for index in range(8) for n in (index * 10, index * 10 + 1)]


def test_postgres_column_types_map_from_arrow_and_values_round_trip(
    migrated_url: str, tmp_path: Path
) -> None:
    when = datetime.datetime(2024, 3, 1, 12, 30, 15, 123456)
    table = pa.table(
        {
            "s": pa.array(['a,"b"\nc', "", None], pa.large_string()),
            "i": pa.array([1, None, -(2**62)], pa.int64()),
            "f": pa.array([1.5, float("nan"), None], pa.float64()),
            "b": pa.array([True, False, None]),
            "d": pa.array([datetime.date(2024, 2, 29), None, datetime.date(1970, 1, 1)]),
            "t": pa.array([when, None, when], pa.timestamp("us")),
            "tz": pa.array([when, when, None], pa.timestamp("us", tz="Europe/Paris")),
            "cat": pa.array(["x", None, "x"]).dictionary_encode(),
            "nothing": pa.nulls(3),
        }
    )

    _run(open_sink(_table_sink(), _job(migrated_url)), table)

    types = _query(
        migrated_url,
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'orders'"
        " AND table_schema = current_schema() ORDER BY ordinal_position",
    )
    assert types == [
        ("s", "text"), ("i", "bigint"), ("f", "double precision"), ("b", "boolean"),
        ("d", "date"), ("t", "timestamp without time zone"),
        ("tz", "timestamp without time zone"), ("cat", "text"), ("nothing", "text"),
    ]  # fmt: skip
    rows = _query(migrated_url, "SELECT s, i, f::text, b, d, t, tz, cat, nothing FROM orders")
    assert rows == [
        ('a,"b"\nc', 1, "1.5", True, datetime.date(2024, 2, 29), when, when, "x", None),
        ("", None, "NaN", False, None, None, when, None, None),
        (None, -(2**62), None, None, datetime.date(1970, 1, 1), when, None, "x", None),
    ]


def test_postgres_empty_partitions_still_create_the_table(
    migrated_url: str, tmp_path: Path
) -> None:
    _run(open_sink(_table_sink(), _job(migrated_url)), _orders(), _orders())

    assert _ids(migrated_url) == []


def test_postgres_create_refuses_an_existing_table_before_any_work(
    migrated_url: str, tmp_path: Path
) -> None:
    _query(migrated_url, "CREATE TABLE orders (id bigint)")

    with pytest.raises(SinkConflictError, match=r"orders exists .* mode is create") as caught:
        open_sink(_table_sink(), _job(migrated_url)).prepare()

    assert isinstance(caught.value, PermanentError)  # a retry would meet the table again


def test_postgres_create_refuses_a_table_made_while_the_job_ran(
    migrated_url: str, tmp_path: Path
) -> None:
    writer = open_sink(_table_sink(), _job(migrated_url))
    writer.prepare()
    writer.write(0, _orders(1))
    _query(migrated_url, "CREATE TABLE orders (id bigint); INSERT INTO orders VALUES (42)")

    with pytest.raises(SinkConflictError, match="mode is create"):
        writer.publish()

    assert _ids(migrated_url) == [42]
    assert _query(migrated_url, f"SELECT * FROM {LEDGER}") == []  # noqa: S608


def test_postgres_replace_swaps_the_whole_table_columns_included(
    migrated_url: str, tmp_path: Path
) -> None:
    _query(migrated_url, "CREATE TABLE orders (id bigint, old text); INSERT INTO orders VALUES (1)")

    _run(open_sink(_table_sink(mode="replace"), _job(migrated_url)), _orders(7, 8))

    assert _query(migrated_url, "SELECT * FROM orders") == [(7, "c1"), (8, "c0")]


def test_postgres_replace_rerun_of_the_same_job_replaces_again(
    migrated_url: str, tmp_path: Path
) -> None:
    _run(open_sink(_table_sink(mode="replace"), _job(migrated_url)), _orders(1))

    _run(
        open_sink(_table_sink(mode="replace"), _job(migrated_url, attempt=2)),
        _orders(2, 3),
    )

    assert _ids(migrated_url) == [2, 3]
    assert _query(migrated_url, f"SELECT rows FROM {LEDGER}") == [(2,)]  # noqa: S608


def test_postgres_replace_readers_see_the_old_or_the_new_table_never_an_empty_one(
    migrated_url: str, tmp_path: Path
) -> None:
    _run(open_sink(_table_sink(), _job(migrated_url, "old")), _orders(1))
    writer = open_sink(_table_sink(mode="replace"), _job(migrated_url, "new"))
    writer.prepare()
    writer.write(0, _orders(2, 3))
    seen: list[object] = []
    with psycopg.connect(migrated_url) as holder:
        holder.execute("SELECT count(*) FROM orders")  # holds a lock publish must wait for
        publishing = threading.Thread(target=writer.publish)
        publishing.start()
        reading = threading.Thread(target=lambda: seen.extend(_ids(migrated_url)))
        time.sleep(0.3)
        reading.start()  # queues behind the publish's lock
        time.sleep(0.3)
        assert publishing.is_alive()
        assert reading.is_alive()
        holder.rollback()
        publishing.join(10)
        reading.join(10)

    assert seen == [2, 3]


def test_postgres_append_adds_rows_and_creates_a_missing_table(
    migrated_url: str, tmp_path: Path
) -> None:
    sink = _table_sink(mode="append")
    _run(open_sink(sink, _job(migrated_url, "first")), _orders(1, 2))

    _run(open_sink(sink, _job(migrated_url, "second")), _orders(3), _orders(4))

    assert _ids(migrated_url) == [1, 2, 3, 4]


def test_postgres_append_fills_named_columns_of_an_existing_table(
    migrated_url: str, tmp_path: Path
) -> None:
    _query(
        migrated_url,
        "CREATE TABLE orders (customer text, id bigint, loaded boolean DEFAULT true)",
    )

    _run(open_sink(_table_sink(mode="append"), _job(migrated_url)), _orders(5))

    assert _query(migrated_url, "SELECT * FROM orders") == [("c1", 5, True)]


def test_postgres_append_rerun_of_the_same_job_does_not_double(
    migrated_url: str, tmp_path: Path
) -> None:
    sink = _table_sink(mode="append")
    _run(open_sink(sink, _job(migrated_url)), _orders(1, 2), _orders(3))

    _run(open_sink(sink, _job(migrated_url, attempt=2)), _orders(1, 2), _orders(3))

    assert _ids(migrated_url) == [1, 2, 3]
    assert _query(migrated_url, f"SELECT job_id, rows FROM {LEDGER}") == [("job-1", 3)]  # noqa: S608


def test_postgres_discard_leaves_the_table_as_it_was(migrated_url: str, tmp_path: Path) -> None:
    _run(open_sink(_table_sink(), _job(migrated_url, "old")), _orders(1))
    writer = open_sink(_table_sink(mode="replace"), _job(migrated_url, "new"))
    writer.prepare()
    writer.write(0, _orders(2, 3))

    writer.discard()

    assert _ids(migrated_url) == [1]
    assert _staging_tables(migrated_url) == []


def test_postgres_a_write_whose_staging_is_dropped_under_it_fails(
    migrated_url: str, tmp_path: Path
) -> None:
    killed = open_sink(_table_sink(), _job(migrated_url, attempt=1))
    killed.prepare()
    killed.write(0, _orders(1))
    retry = open_sink(_table_sink(), _job(migrated_url, attempt=2))
    failures: list[BaseException] = []

    def straggle() -> None:
        try:
            killed.write(0, _orders(1))
        except SinkError as exc:
            failures.append(exc)

    with psycopg.connect(migrated_url) as holder:
        # Holds the lock of the straggler's partition: its write waits past its column check.
        staging = cast(PostgresWriter, killed).staging_table
        holder.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"tuskflow-etl:{_schema_of(migrated_url)}.{staging}:0"],
        )
        straggler = threading.Thread(target=straggle)
        straggler.start()
        time.sleep(0.3)
        retry.prepare()
        holder.rollback()
        straggler.join(10)

    assert [str(exc) for exc in failures] == [
        f"no staging table {staging} for table {_schema_of(migrated_url)}.orders: prepare() "
        "did not run, the job has ended, or a later attempt of it replaced this one"
    ]
    retry.write(0, _orders(2))
    retry.publish()
    assert _ids(migrated_url) == [2]


def test_postgres_tries_of_one_partition_at_once_stage_it_once(
    migrated_url: str, tmp_path: Path
) -> None:
    writer = open_sink(_table_sink(), _job(migrated_url))
    writer.prepare()
    _at_once(*(partial(_shipped(writer).write, 0, _orders(*range(1000))) for _ in range(6)))

    writer.publish()

    assert _ids(migrated_url) == list(range(1000))


def test_postgres_staging_names_carry_the_attempt_within_63_bytes(
    migrated_url: str, tmp_path: Path
) -> None:
    name = "Orders_" + "x" * 56  # PostgreSQL's longest name: no room left for a suffix
    first = cast(PostgresWriter, open_sink(_table_sink(name), _job(migrated_url)))
    again = cast(PostgresWriter, open_sink(_table_sink(name), _job(migrated_url, attempt=12)))

    assert len(first.staging_table.encode()) <= 63
    assert len(again.staging_table.encode()) <= 63
    assert first.staging_table.endswith(f"_1_{first.nonce}")
    assert again.staging_table.endswith(f"_12_{again.nonce}")
    first.prepare()
    again.prepare()
    assert _staging_tables(migrated_url) == [again.staging_table]
    again.write(0, _orders(1))
    again.publish()
    assert _query(migrated_url, f'SELECT id FROM "{name}"') == [(1,)]  # noqa: S608


def test_postgres_a_straggling_write_after_publish_fails_and_leaves_no_table(
    migrated_url: str, tmp_path: Path
) -> None:
    writer = open_sink(_table_sink(), _job(migrated_url))
    _run(writer, _orders(1))

    with pytest.raises(SinkError, match="no staging table"):
        writer.write(0, _orders(1))

    assert _staging_tables(migrated_url) == []


def test_postgres_publish_with_no_partition_written_fails_and_creates_nothing(
    migrated_url: str, tmp_path: Path
) -> None:
    writer = open_sink(_table_sink(), _job(migrated_url))
    writer.prepare()

    with pytest.raises(SinkError, match="nothing was staged"):
        writer.publish()

    assert not _relation_exists(migrated_url, "orders")


def test_postgres_schema_qualified_and_mixed_case_names_are_quoted(
    migrated_url: str, other_schema: str, tmp_path: Path
) -> None:
    name = f"{other_schema}.Orders_{'x' * 50}"

    location = _run(open_sink(_table_sink(name), _job(migrated_url)), _orders(1))

    assert location == name
    assert _query(migrated_url, f'SELECT id FROM {other_schema}."Orders_{"x" * 50}"') == [(1,)]  # noqa: S608
    assert _relation_exists(migrated_url, f"{other_schema}.{LEDGER}")


def test_postgres_unreachable_database_is_a_sink_error_naming_the_table(tmp_path: Path) -> None:
    url = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"

    with pytest.raises(SinkError, match="could not prepare table orders"):
        open_sink(_table_sink(), _job(url)).prepare()


# Event store


def test_eventstore_appends_each_row_once_as_an_event_of_its_stream(
    migrated_url: str, tmp_path: Path
) -> None:
    sold = pa.table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "customer": pa.array(["c1", "c0"], pa.large_string()),
            "on": pa.array([datetime.date(2024, 5, 6), None]),
            "price": pa.array([2.5, float("nan")]),
        }
    )
    writer = open_sink(_eventstore_sink(), _job(migrated_url))
    writer.prepare()
    writer.write(0, sold)
    writer.write(1, _orders(3, 4, 5))
    writer.write(2, _orders(6))
    writer.write(1, _orders(3))  # Dask retried partition 1

    location = writer.publish()

    assert location == "eventstore:Sold in 2 streams"
    assert _events(migrated_url) == [
        ("customer-c1", 1, uuid.uuid5(EVENT_ID_NAMESPACE, "job-1/0/0"), "Sold",
         {"id": 1, "customer": "c1", "on": "2024-05-06", "price": 2.5}),
        ("customer-c0", 1, uuid.uuid5(EVENT_ID_NAMESPACE, "job-1/0/1"), "Sold",
         {"id": 2, "customer": "c0", "on": None, "price": None}),
        ("customer-c1", 2, uuid.uuid5(EVENT_ID_NAMESPACE, "job-1/1/0"), "Sold",
         {"id": 3, "customer": "c1"}),
        ("customer-c0", 2, uuid.uuid5(EVENT_ID_NAMESPACE, "job-1/2/0"), "Sold",
         {"id": 6, "customer": "c0"}),
    ]  # fmt: skip
    assert _staging_tables(migrated_url) == []


def test_eventstore_discard_appends_nothing_and_removes_staging(
    migrated_url: str, tmp_path: Path
) -> None:
    writer = open_sink(_eventstore_sink(), _job(migrated_url))
    writer.prepare()
    writer.write(0, _orders(1))

    writer.discard()

    assert _events(migrated_url) == []
    assert _staging_tables(migrated_url) == []


def test_eventstore_stages_in_postgres_so_any_host_can_write(
    migrated_url: str, tmp_path: Path
) -> None:
    driver = open_sink(_eventstore_sink(), _job(migrated_url))
    driver.prepare()
    # Workers on other hosts get the pickled writer, which names no folder of any host.
    _shipped(driver).write(0, _orders(1, 2))
    _shipped(driver).write(1, _orders(3))

    (staging,) = _staging_tables(migrated_url)
    staged = _query(migrated_url, f"SELECT part, seq, stream_id FROM {staging} ORDER BY 1, 2")  # noqa: S608
    assert staged == [(0, 0, "customer-c1"), (0, 1, "customer-c0"), (1, 0, "customer-c1")]
    assert _relation_persistence(migrated_url, staging) == "u"  # UNLOGGED
    assert not any(tmp_path.iterdir())
    assert driver.publish() == "eventstore:Sold in 2 streams"
    assert _event_ids(migrated_url) == [1, 2, 3]
    assert _staging_tables(migrated_url) == []


def test_eventstore_publish_of_many_batches_keeps_the_job_order(
    migrated_url: str, tmp_path: Path
) -> None:
    writer = open_sink(_eventstore_sink(), _job(migrated_url))
    writer.prepare()
    writer.write(1, _orders(*range(12_000, 15_000)))
    writer.write(0, _orders(*range(12_000)))

    writer.publish()

    assert _event_ids(migrated_url) == list(range(15_000))


def test_eventstore_publish_without_prepare_fails_and_appends_nothing(
    migrated_url: str, tmp_path: Path
) -> None:
    with pytest.raises(SinkError, match="no staging table"):
        open_sink(_eventstore_sink(), _job(migrated_url)).publish()

    assert _events(migrated_url) == []


def test_eventstore_publish_is_all_or_nothing(migrated_url: str, tmp_path: Path) -> None:
    # An event of partition 1 was stored before with other content: its append is refused.
    clash = uuid.uuid5(EVENT_ID_NAMESPACE, "job-1/1/0")
    with PostgresEventStore(migrated_url) as store:
        store.append("elsewhere", [NewEvent("Other", {"x": 1}, event_id=clash)])
    writer = open_sink(_eventstore_sink(), _job(migrated_url))
    writer.prepare()
    writer.write(0, _orders(1, 2))
    writer.write(1, _orders(3))

    with pytest.raises(
        JobFailedError, match=r"with other content \(the first, row 0 of partition 1"
    ):
        writer.publish()

    assert [row[0] for row in _events(migrated_url)] == ["elsewhere"]


def test_eventstore_a_row_without_a_stream_id_fails_its_partition(
    migrated_url: str, tmp_path: Path
) -> None:
    writer = open_sink(_eventstore_sink(), _job(migrated_url))
    writer.prepare()
    rows = pa.table({"id": [1, 2], "customer": pa.array(["c1", None], pa.large_string())})

    with pytest.raises(JobFailedError, match="row 1 of partition 0"):
        writer.write(0, rows)


# Both sinks


def test_rerun_of_the_same_job_publishes_nothing_new(
    migrated_url: str, tmp_path: Path, destination: _Destination
) -> None:
    first = _run(open_sink(destination.spec(), _job(migrated_url)), _orders(1, 2), _orders(3))
    before = destination.rows(migrated_url)

    again = _run(
        open_sink(destination.spec(), _job(migrated_url, attempt=2)),
        _orders(1, 2),
        _orders(3),
    )

    assert again == first == destination.location(migrated_url)
    assert destination.rows(migrated_url) == before
    assert destination.ids(migrated_url) == [1, 2, 3]
    assert _staging_tables(migrated_url) == []


def test_prepare_drops_what_a_killed_attempt_staged(
    migrated_url: str, tmp_path: Path, destination: _Destination
) -> None:
    killed = open_sink(destination.spec(), _job(migrated_url, attempt=1))
    killed.prepare()
    killed.write(0, _orders(1))
    killed.write(5, _orders(9))  # a partition the retry does not have; then SIGKILL
    retry = open_sink(destination.spec(), _job(migrated_url, attempt=2))

    retry.prepare()

    (staging,) = _staging_tables(migrated_url)
    assert staging == cast(PostgresWriter | EventStoreWriter, retry).staging_table
    assert _query(migrated_url, f"SELECT count(*) FROM {staging}") == [(0,)]  # noqa: S608
    retry.write(0, _orders(3))
    retry.publish()
    assert destination.ids(migrated_url) == [3]


def test_a_write_of_an_earlier_attempt_after_the_next_prepare_is_not_published(
    migrated_url: str, tmp_path: Path, destination: _Destination
) -> None:
    killed = open_sink(destination.spec(), _job(migrated_url, attempt=1))
    killed.prepare()
    killed.write(0, _orders(1))  # the driver dies; Dask keeps running this attempt's tasks
    retry = open_sink(destination.spec(), _job(migrated_url, attempt=2))
    retry.prepare()

    with pytest.raises(SinkError, match="no staging table"):
        killed.write(0, _orders(1))
    with pytest.raises(SinkError, match="no staging table"):
        killed.write(5, _orders(9))  # a partition the retry's plan does not have
    retry.write(0, _orders(2))
    retry.publish()

    assert destination.ids(migrated_url) == [2]
    assert _staging_tables(migrated_url) == []
