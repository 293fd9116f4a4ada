"""The engine on a real Dask cluster, every result checked against pandas computing the same job.

The orders file is about 3 MB read in 1 MB partitions, so every job runs on several partitions
and the faults below (a bad quantity, an uncastable code, a repeated invoice, ...) sit in the
first, a middle and the last one.
"""

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from distributed import Client
from psycopg import sql

from examples import generate_sales
from examples.generate_sales import bad_rows, generate
from tests.integration.etl.engine_helpers import (
    REGIONS,
    Orders,
    RecordingObserver,
    Run,
    assert_observed,
    assert_same_rows,
    convert_text,
    job_context,
    orders_spec,
    partition_of_record,
    read_csv_output,
    read_orders,
    reasons_by_row,
    reject_rows,
    run_job,
    write_orders,
)
from tuskflow.etl.cluster import LocalDaskCluster, connect
from tuskflow.etl.errors import JobFailedError
from tuskflow.eventstore.postgres.store import PostgresEventStore

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
ROWS = 40_000
BAD_QUANTITY = (7, 17_001, 39_990)
BAD_CODE = (3, 21_000, 38_000)
NULL_REGION = (11, 15_000, 30_333)
OTHER_REGION = (100, 25_000)
BAD_PRODUCT = (50, 33_333)
REPEATED_INVOICE = {36_000: 2, 19_999: 19_998, 28_000: 14_000}
# Null coupons in the first partition only: a key column that is null in some partitions.
NULL_COUPON = (1, 2, 3, 4, 5)
FAULTS = {
    "quantity": {
        **{record: "lots" for record in BAD_QUANTITY},
        # Repeated invoices and their first occurrences pass every row-level check.
        **{record: "5" for pair in REPEATED_INVOICE.items() for record in pair},
    },
    "code": {record: f"x{record}" for record in BAD_CODE},
    "region": {
        **dict.fromkeys(NULL_REGION, ""),
        **dict.fromkeys(OTHER_REGION, "central"),
        **{record: "north" for pair in REPEATED_INVOICE.items() for record in pair},
    },
    "product": dict.fromkeys(BAD_PRODUCT, "p-1"),
    "invoice": {record: f"INV-{first:06d}" for record, first in REPEATED_INVOICE.items()},
    "coupon": dict.fromkeys(NULL_COUPON, ""),
}


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """A client of a local cluster of two single-thread workers, shared by the module."""
    with LocalDaskCluster(workers=2) as cluster:
        dask = connect(cluster.address)
        try:
            yield dask
        finally:
            dask.close()


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> Orders:
    """The orders file with its faults, and pandas' reading of it."""
    path = tmp_path_factory.mktemp("orders") / "orders.csv"
    write_orders(path, ROWS, seed=5, faults=FAULTS)
    assert os.path.getsize(path) > 2 << 20
    return read_orders(path)


@pytest.fixture(scope="module")
def customers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Customers 1-1500 (orders name 1-2000) as Parquet in row groups of 500, and as CSV."""
    folder = tmp_path_factory.mktemp("customers")
    rng = np.random.default_rng(3)
    table = pa.table(
        {
            "customer_id": pa.array(rng.permutation(np.arange(1, 1501)), pa.int64()),
            "segment": rng.choice(["retail", "trade", "staff"], 1500),
            "region": rng.choice(REGIONS, 1500),
        }
    )
    pq.write_table(table, folder / "customers.parquet", row_group_size=500)
    table.to_pandas().to_csv(folder / "customers.csv", index=False)
    return {"parquet": folder / "customers.parquet", "csv": folder / "customers.csv"}


def run(client: Client, document: dict[str, Any], tmp_path: Path, **context: Any) -> Run:
    """Run a spec document as a first attempt, with the test's state folder."""
    return run_job(client, document, job_context(**context), RecordingObserver())


def parquet_frame(path: Path) -> pd.DataFrame:
    """A Parquet output read back by pyarrow, as pandas; partition keys decoded to text."""
    table = pq.read_table(path)
    for index, column in enumerate(table.schema):
        if pa.types.is_dictionary(column.type):
            decoded = table.column(index).cast(column.type.value_type)
            table = table.set_column(index, column.name, decoded)
    return table.to_pandas()


def run_to_parquet(
    client: Client,
    source: Path,
    tmp_path: Path,
    transforms: list[dict[str, Any]],
    **policy: Any,
) -> tuple[Run, pd.DataFrame]:
    """Run the transforms over an orders source into Parquet: the run, the output read back."""
    out = tmp_path / "out"
    document = orders_spec(source, transforms, {"kind": "parquet", "path": str(out)}, **policy)
    return run(client, document, tmp_path), parquet_frame(out)


def table_frame(url: str, table: str) -> pd.DataFrame:
    """A PostgreSQL table read back by psycopg, as pandas."""
    with psycopg.connect(url) as conn:
        cursor = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
        names = [column.name for column in cursor.description or []]
        return pd.DataFrame(cursor.fetchall(), columns=names)


def test_rowwise_transforms_match_pandas_and_read_rejects_name_their_record(
    client: Client, orders: Orders, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    document = orders_spec(
        orders.path,
        [
            {"op": "filter", "where": "quantity > 0 and region != 'east'"},
            {
                "op": "select",
                "columns": ["order_id", "customer_id", "region", "quantity", "price", "paid"],
            },
            {"op": "rename", "columns": {"price": "unit_price"}},
            {"op": "cast", "columns": {"customer_id": "string", "quantity": "float"}},
            {"op": "derive", "column": "revenue", "expr": "quantity * unit_price"},
            {"op": "derive", "column": "label", "expr": "concat(upper(region), '-', customer_id)"},
        ],
        {"kind": "csv", "path": str(out)},
    )

    done = run(client, document, tmp_path)

    good, _ = orders.reading(["order_id", "customer_id", "region", "quantity", "price", "paid"])
    kept = good[(good.quantity > 0) & good.region.notna() & (good.region != "east")]
    want = pd.DataFrame(
        {
            "order_id": kept.order_id,
            "customer_id": kept.customer_id.astype(str),
            "region": kept.region,
            "quantity": kept.quantity.astype(float),
            "unit_price": kept.price,
            "paid": kept.paid,
        }
    )
    want["revenue"] = want.quantity * want.unit_price
    want["label"] = want.region.str.upper() + "-" + want.customer_id
    types = {
        "order_id": "int",
        "customer_id": "string",
        "region": "string",
        "quantity": "float",
        "unit_price": "float",
        "paid": "bool",
        "revenue": "float",
        "label": "string",
    }
    assert_same_rows(read_csv_output(out, types), want, ["order_id"])
    assert orders.bad == list(BAD_QUANTITY)
    assert len(done.plan.partitions) >= 3
    assert_observed(done)
    result = done.result
    assert (result.rows_in, result.rows_out, result.rejected) == (ROWS, len(want), 3)
    assert result.output == str(out)
    assert reject_rows(result.rejects) == [("orders.csv", record) for record in BAD_QUANTITY]
    lines = orders.path.read_text().splitlines()
    for record, reason in reasons_by_row(result.rejects).items():
        assert reason == "quantity: 'lots' is not an int"
        assert lines[record] in result.rejects.column("record").to_pylist()
    first, middle, last = (partition_of_record(done, record) for record in BAD_QUANTITY)
    assert first == 0 < middle < last == len(done.plan.partitions) - 1


def test_cast_rejects_values_that_do_not_convert_with_their_file_and_record_in_any_partition(
    client: Client, orders: Orders, tmp_path: Path
) -> None:
    cast = {"op": "cast", "columns": {"code": "int"}}

    done, got = run_to_parquet(client, orders.path, tmp_path, [cast])

    good = orders.good
    castable = good[good.code.str.fullmatch(r"[0-9]+")]
    want = castable.assign(code=castable.code.astype(int))
    assert_same_rows(got, want, ["order_id"])
    rejects = done.result.rejects
    expected = sorted(BAD_QUANTITY + BAD_CODE)
    assert reject_rows(rejects) == [("orders.csv", record) for record in expected]
    assert set(rejects.column("source_file").to_pylist()) == {str(orders.path)}
    reasons = reasons_by_row(rejects)
    rows, texts = (rejects.column(name).to_pylist() for name in ("row", "record"))
    records = dict(zip(rows, texts, strict=True))
    for record in BAD_CODE:
        assert reasons[record] == f"cast code: 'x{record}' is not an int"
        assert json.loads(records[record])["order_id"] == record
    partitions = {partition_of_record(done, record) for record in BAD_CODE}
    assert len(partitions) == 3
    assert max(partitions) == len(done.plan.partitions) - 1
    assert_observed(done)


@pytest.mark.parametrize("key", [["customer_id"], ["region", "paid"]])
def test_dedupe_keeps_the_first_occurrence_in_file_order_across_partitions(
    client: Client, orders: Orders, tmp_path: Path, key: list[str]
) -> None:
    done, got = run_to_parquet(client, orders.path, tmp_path, [{"op": "dedupe", "columns": key}])

    want = orders.good.drop_duplicates(key, keep="first")
    assert_same_rows(got, want, ["order_id"])
    assert done.result.rows_out == len(want)
    assert_observed(done)


def test_dedupe_without_columns_compares_every_column(
    client: Client, orders: Orders, tmp_path: Path
) -> None:
    columns = ["region", "paid", "quantity"]
    steps: list[dict[str, Any]] = [{"op": "select", "columns": columns}, {"op": "dedupe"}]

    _, got = run_to_parquet(client, orders.path, tmp_path, steps)

    want = orders.good[columns].drop_duplicates()
    assert_same_rows(got, want, columns)


def test_dedupe_on_a_key_that_is_null_in_some_partitions_keeps_one_row_per_key(
    client: Client, orders: Orders, tmp_path: Path
) -> None:
    _, got = run_to_parquet(
        client, orders.path, tmp_path, [{"op": "dedupe", "columns": ["coupon"]}]
    )

    want = orders.good.drop_duplicates(["coupon"], keep="first")
    assert got.coupon.value_counts(dropna=False).max() == 1
    assert_same_rows(got, want, ["order_id"])


def test_unique_check_on_a_key_that_is_null_in_some_partitions_rejects_every_repeat(
    client: Client, orders: Orders, tmp_path: Path
) -> None:
    unique = {"check": "unique", "columns": ["coupon"]}

    done, got = run_to_parquet(client, orders.path, tmp_path, [], checks=[unique])

    good = orders.good
    repeated = good.coupon.notna() & good.coupon.duplicated(keep="first")
    assert_same_rows(got, good[~repeated], ["order_id"])
    expected = sorted([*BAD_QUANTITY, *good.index[repeated]])
    assert reject_rows(done.result.rejects) == [("orders.csv", record) for record in expected]


AGGREGATIONS = {
    "orders": {"fn": "count"},
    "units": {"fn": "sum", "column": "quantity"},
    "mean_price": {"fn": "mean", "column": "price"},
    "cheapest": {"fn": "min", "column": "price"},
    "dearest": {"fn": "max", "column": "price"},
    "first_day": {"fn": "min", "column": "ordered_on"},
    "last_product": {"fn": "max", "column": "product"},
    "coupons": {"fn": "sum", "column": "coupon"},
    "mean_coupon": {"fn": "mean", "column": "coupon"},
    "coupon_rows": {"fn": "count", "column": "coupon"},
}


@pytest.mark.parametrize(
    "leading",
    [[], [{"op": "dedupe", "columns": ["order_id"]}]],
    ids=["first-phase-in-the-reading-task", "after-a-shuffle"],
)
def test_aggregate_with_every_function_matches_pandas(
    client: Client, orders: Orders, tmp_path: Path, leading: list[dict[str, Any]]
) -> None:
    aggregate = {"op": "aggregate", "by": ["region", "paid"], "aggregations": AGGREGATIONS}

    done, got = run_to_parquet(client, orders.path, tmp_path, [*leading, aggregate])

    want = (
        orders.good.groupby(["region", "paid"], dropna=False)
        .agg(
            orders=("order_id", "size"),
            units=("quantity", "sum"),
            mean_price=("price", "mean"),
            cheapest=("price", "min"),
            dearest=("price", "max"),
            first_day=("ordered_on", "min"),
            last_product=("product", "max"),
            coupons=("coupon", "sum"),
            mean_coupon=("coupon", "mean"),
            coupon_rows=("coupon", "count"),  # count(column) skips nulls, as in SQL
        )
        .reset_index()
    )
    assert len(got) == len(REGIONS) * 2 + 4  # central and null regions, each paid or not
    assert_same_rows(got, want, ["region", "paid"])
    assert done.result.rows_out == len(want)


def test_a_global_sql_aggregate_with_expressions_and_distinct_counts_matches_pandas(
    client: Client, orders: Orders, tmp_path: Path
) -> None:
    aggregations = {
        "rows": "count(*)",
        "revenue": "sum(quantity * price)",
        "products": "count(distinct product)",
        "coupon_regions": "count(distinct case when coupon is not null then region end)",
        "mean_paid_price": "avg(case when paid then price end)",
    }
    aggregate = {"op": "aggregate", "aggregations": aggregations}

    done, got = run_to_parquet(client, orders.path, tmp_path, [aggregate])

    good = orders.good
    assert done.result.rows_out == 1
    row = got.iloc[0]
    assert row["rows"] == len(good)
    assert row["revenue"] == pytest.approx((good.quantity * good.price).sum(), rel=1e-12)
    assert row["products"] == good["product"].nunique()
    assert row["coupon_regions"] == good.loc[good.coupon.notna(), "region"].nunique()
    assert row["mean_paid_price"] == pytest.approx(good.loc[good.paid == True, "price"].mean())  # noqa: E712


@pytest.mark.parametrize(
    ("how", "fmt"), [("inner", "parquet"), ("left", "parquet"), ("left", "csv")]
)
def test_join_with_a_second_source_matches_pandas_merge(
    client: Client,
    orders: Orders,
    customers: dict[str, Path],
    tmp_path: Path,
    how: str,
    fmt: str,
) -> None:
    join = {
        "op": "join",
        "source": {"format": fmt, "path": str(customers[fmt]), "partition_mb": 1},
        "on": ["customer_id"],
        "how": how,
    }
    columns = ["order_id", "customer_id", "region", "price"]
    steps: list[dict[str, Any]] = [{"op": "select", "columns": columns}, join]

    done, got = run_to_parquet(client, orders.path, tmp_path, steps)

    right = pd.read_parquet(customers["parquet"])
    good, _ = orders.reading(columns)
    want = good[columns].merge(right, on="customer_id", how=how, suffixes=("", "_right"))
    assert list(got.columns) == [*columns, "segment", "region_right"]
    assert_same_rows(got, want, ["order_id"])
    assert (how == "left") == (done.result.rows_out == len(good))


def test_sort_orders_every_row_across_partitions_stably_with_nulls_last(
    client: Client, orders: Orders, tmp_path: Path
) -> None:
    out = tmp_path / "sorted.csv"
    document = orders_spec(
        orders.path,
        [
            {"op": "select", "columns": ["order_id", "region", "quantity"]},
            {"op": "sort", "by": ["region", "quantity"], "descending": True},
        ],
        {"kind": "csv", "path": str(out)},
    )

    run(client, document, tmp_path)

    want = orders.good.sort_values(
        ["region", "quantity"], ascending=False, na_position="last", kind="stable"
    )
    got = read_csv_output(out, {"order_id": "int", "region": "string", "quantity": "int"})
    assert got.order_id.tolist() == want.order_id.tolist()


def test_top_n_per_group_with_a_direction_per_key_matches_pandas_across_partitions(
    client: Client, orders: Orders, tmp_path: Path
) -> None:
    out = tmp_path / "top.csv"
    document = orders_spec(
        orders.path,
        [
            {"op": "select", "columns": ["order_id", "region", "quantity"]},
            {"op": "sort", "by": ["quantity desc", "order_id asc"], "limit": 3, "per": ["region"]},
        ],
        {"kind": "csv", "path": str(out)},
    )

    run(client, document, tmp_path)

    want = (
        orders.good.sort_values(
            ["region", "quantity", "order_id"],
            ascending=[True, False, True],
            na_position="last",
            kind="stable",
        )
        .groupby("region", dropna=False, sort=False)
        .head(3)
    )
    got = read_csv_output(out, {"order_id": "int", "region": "string", "quantity": "int"})
    assert len(got) == len(want) == 17  # 3 of every group but central, which has 2 rows
    assert got.order_id.tolist() == want.order_id.tolist()


def test_parquet_sink_partitioned_by_a_column_reads_back_as_the_output(
    client: Client, orders: Orders, tmp_path: Path
) -> None:
    out = tmp_path / "by_region"
    columns = ["order_id", "region", "price", "ordered_on"]
    document = orders_spec(
        orders.path,
        [{"op": "select", "columns": columns}],
        {"kind": "parquet", "path": str(out), "partition_by": ["region"]},
    )

    done = run(client, document, tmp_path)

    folders = {entry.name for entry in out.iterdir()}
    assert folders == {
        f"region={name}" for name in (*REGIONS, "central", "__HIVE_DEFAULT_PARTITION__")
    }
    got = parquet_frame(out)[columns]
    good, _ = orders.reading(columns)
    assert_same_rows(got, good, ["order_id"])
    assert done.result.rows_out == len(good)


def test_postgres_sink_loads_the_output_into_a_table(
    client: Client, orders: Orders, tmp_path: Path, migrated_url: str
) -> None:
    columns = ["order_id", "customer_id", "region", "price", "ordered_on", "paid", "coupon"]
    document = orders_spec(
        orders.path,
        [{"op": "select", "columns": columns}],
        {"kind": "postgres", "table": "order_copy"},
    )

    done = run(client, document, tmp_path, database_url=migrated_url)

    got = table_frame(migrated_url, "order_copy")
    good, _ = orders.reading(columns)
    assert_same_rows(got, good, ["order_id"])
    assert done.result.rows_out == len(good)


def test_eventstore_sink_appends_each_row_as_an_event_in_its_stream(
    client: Client, orders: Orders, tmp_path: Path, migrated_url: str
) -> None:
    columns = ["order_id", "customer_id", "region", "price", "ordered_on"]
    document = orders_spec(
        orders.path,
        [{"op": "filter", "where": "customer_id <= 20"}, {"op": "select", "columns": columns}],
        {
            "kind": "eventstore",
            "stream_id": "concat('customer-', customer_id)",
            "event_type": "OrderCopied",
        },
    )

    done = run(client, document, tmp_path, database_url=migrated_url)

    with PostgresEventStore(migrated_url, pool_size=1) as store:
        events = store.read_all(limit=100_000)
    assert {event.event_type for event in events} == {"OrderCopied"}
    got = pd.DataFrame([dict(event.data) for event in events])
    good, _ = orders.reading(columns)
    want = good[good.customer_id <= 20]
    want = want.assign(ordered_on=[day.isoformat() for day in want.ordered_on])
    assert_same_rows(got[columns], want, ["order_id"])
    for event in events:
        assert event.stream_id == f"customer-{event.data['customer_id']}"
    by_stream: dict[str, list[tuple[int, int]]] = {}
    for event in events:
        by_stream.setdefault(event.stream_id, []).append(
            (event.stream_version, int(event.data["order_id"]))
        )
    for versions in by_stream.values():
        in_file_order = [order_id for _, order_id in sorted(versions)]
        assert in_file_order == sorted(in_file_order)
    assert done.result.rows_out == len(want) == len(events)


def test_row_checks_and_a_unique_check_across_partitions_reject_what_pandas_rejects(
    client: Client, orders: Orders, tmp_path: Path
) -> None:
    checks: list[dict[str, Any]] = [
        {"check": "not_null", "columns": ["region"]},
        {"check": "range", "column": "quantity", "min": -1, "max": 18},
        {"check": "accepted_values", "column": "region", "values": list(REGIONS)},
        {"check": "regex", "column": "product", "pattern": "^P-[0-9]{3}$"},
        {"check": "unique", "columns": ["invoice"]},
    ]

    done, got = run_to_parquet(client, orders.path, tmp_path, [], checks=checks)

    good = orders.good
    region = good.region
    failing = (
        region.isna()
        | (good.quantity < -1)
        | (good.quantity > 18)
        | (region.notna() & ~region.isin(REGIONS))
        | ~good["product"].str.fullmatch(r"P-[0-9]{3}")
    )
    passed = good[~failing]
    repeated = passed.invoice.duplicated(keep="first")
    assert_same_rows(got, passed[~repeated], ["order_id"])
    rejected = sorted([*BAD_QUANTITY, *good.index[failing], *passed.index[repeated]])
    assert reject_rows(done.result.rejects) == [("orders.csv", record) for record in rejected]
    reasons = reasons_by_row(done.result.rejects)
    for record in NULL_REGION:
        assert reasons[record].startswith("not_null(region): value is null")
    for record in OTHER_REGION:
        assert "accepted_values(region): 'central' is not one of 'north'" in reasons[record]
    for record in BAD_PRODUCT:
        assert "regex(product): 'p-1' does not match '^P-[0-9]{3}$'" in reasons[record]
    for record, first in REPEATED_INVOICE.items():
        assert reasons[record] == f"unique(invoice): 'INV-{first:06d}' seen before"
    assert partition_of_record(done, 36_000) != partition_of_record(done, 2)
    assert_observed(done)
    assert done.result.rows_out == len(passed) - int(repeated.sum())


def test_row_count_check_that_fails_fails_the_job_and_publishes_nothing(
    client: Client, orders: Orders, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "orders"
    document = orders_spec(
        orders.path,
        [{"op": "filter", "where": "quantity > 0"}],
        {"kind": "parquet", "path": str(out)},
        checks=[{"check": "row_count", "min": ROWS}],
    )

    with pytest.raises(JobFailedError, match=r"row_count check failed: .* fewer than the minimum"):
        run(client, document, tmp_path)

    assert not out.exists()
    assert list(out.parent.iterdir()) == []


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file of an output (a file, or a folder behind its symlink) by relative path."""
    if path.is_file():
        return {path.name: path.read_bytes()}
    files = {}
    for folder, _, names in os.walk(path):
        for name in names:
            file = Path(folder) / name
            files[str(file.relative_to(path))] = file.read_bytes()
    return files


@pytest.mark.parametrize("sink", ["csv", "parquet"])
def test_too_many_rejects_fail_the_job_and_leave_the_published_output_as_it_was(
    client: Client, orders: Orders, tmp_path: Path, sink: str
) -> None:
    out = tmp_path / "out" / f"orders.{sink}"
    target = {"kind": sink, "path": str(out)}
    select = {"op": "select", "columns": ["order_id", "code", "quantity"]}
    first = orders_spec(orders.path, [select], target, max_share=0.01)
    run(client, first, tmp_path, job_id="job-1")
    published = snapshot(out)
    version = os.readlink(out) if out.is_symlink() else None
    beside = sorted(entry.name for entry in out.parent.iterdir())
    second = orders_spec(
        orders.path,
        [select, {"op": "cast", "columns": {"code": "int"}}],
        target,
        checks=[{"check": "range", "column": "quantity", "min": 0}],
        max_share=0.01,
    )
    observer = RecordingObserver()

    with pytest.raises(JobFailedError, match=r"rows rejected .* more than the reject policy"):
        run_job(client, second, job_context(job_id="job-2"), observer)

    assert snapshot(out) == published
    assert (os.readlink(out) if out.is_symlink() else None) == version
    assert sorted(entry.name for entry in out.parent.iterdir()) == beside
    good, bad = orders.reading(["order_id", "code", "quantity"])
    failing = ~good.code.str.fullmatch(r"[0-9]+") | (good.quantity < 0)
    expected = len(bad) + int(failing.sum())
    assert [table.num_rows for table in observer.rejects] == [expected]
    assert expected / ROWS > 0.01


def test_rejects_name_each_file_of_a_glob_and_the_record_within_that_file(
    client: Client, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write_orders(folder / "a.csv", 5_000, seed=1, faults={"quantity": {5: "lots"}})
    write_orders(
        folder / "b.csv",
        30_000,
        seed=2,
        faults={"quantity": {3: "lots", 25_000: "lots"}, "code": {20_000: "x"}},
    )
    cast = {"op": "cast", "columns": {"code": "int"}}

    done, got = run_to_parquet(client, folder / "*.csv", tmp_path, [cast])

    expected = [("a.csv", 5), ("b.csv", 3), ("b.csv", 20_000), ("b.csv", 25_000)]
    assert reject_rows(done.result.rejects) == expected
    files = set(done.result.rejects.column("source_file").to_pylist())
    assert files == {str(folder / "a.csv"), str(folder / "b.csv")}
    assert len({p.index for p in done.plan.partitions if p.path.endswith("b.csv")}) >= 2
    good = pd.concat([read_orders(folder / name).good for name in ("a.csv", "b.csv")])
    want = good[good.code.str.fullmatch(r"[0-9]+")].assign(code=lambda f: f.code.astype(int))
    assert_same_rows(got, want, ["order_id", "customer_id", "price"])


# --- the sample specs in examples/specs -------------------------------------------------------

SAMPLE_ROWS = 40_000
SAMPLE_REGIONS = ["North", "South", "East", "West", "Central", "Online"]


def sample_spec(name: str) -> dict[str, Any]:
    """A sample spec of examples/specs as a document."""
    document = yaml.safe_load((EXAMPLES / "specs" / name).read_text())
    assert isinstance(document, dict)
    return document


def read_sales_csv(path: Path, columns: list[str]) -> tuple[pd.DataFrame, list[int]]:
    """The sales CSV read without tuskflow, converting ``columns``: good records, bad ones.

    A record with a wrong number of fields is bad whatever columns are read.
    """
    types = generate_sales.COLUMN_TYPES
    lines = path.read_text().splitlines()[1:]
    fields = [line.split(",") for line in lines]
    wrong = [number for number, row in enumerate(fields, 1) if len(row) != len(types)]
    right = [number for number, row in enumerate(fields, 1) if len(row) == len(types)]
    text = pd.DataFrame([fields[n - 1] for n in right], columns=list(types), index=right)
    good, bad = convert_text(text, {name: types[name] for name in columns})
    return good, sorted(wrong + bad)


def test_sample_sales_to_parquet_spec_matches_pandas(client: Client, tmp_path: Path) -> None:
    source = tmp_path / "data" / "sales.csv"
    generate(source, SAMPLE_ROWS, bad=12)
    out = tmp_path / "data" / "out" / "sales_by_region"
    document = sample_spec("sales_to_parquet.yaml")
    document["source"].update(path=str(source), partition_mb=1)
    document["sink"]["path"] = str(out)

    done = run(client, document, tmp_path)

    # The job reads only the columns it uses, so the record with an impossible order_date
    # (every fifth malformation, from the third on) is read, not rejected.
    good, bad = read_sales_csv(source, ["region", "category", "quantity", "unit_price", "discount"])
    injected = bad_rows(SAMPLE_ROWS, 12, 7)
    assert bad == [int(row) + 1 for ordinal, row in enumerate(injected) if ordinal % 5 != 2]
    sold = good[good.quantity > 0]
    sold = sold.assign(revenue=sold.quantity * sold.unit_price * (1 - sold.discount))
    want = (
        sold.groupby(["region", "category"])
        .agg(
            revenue=("revenue", "sum"),
            orders=("revenue", "size"),
            units=("quantity", "sum"),
            mean_unit_price=("unit_price", "mean"),
            largest_order=("revenue", "max"),
        )
        .reset_index()
    )
    got = parquet_frame(out)[list(want.columns)]
    assert_same_rows(got, want, ["region", "category"])
    assert len(done.plan.partitions) >= 3
    assert (done.result.rows_in, done.result.rejected) == (SAMPLE_ROWS, len(bad))
    assert reject_rows(done.result.rejects) == [("sales.csv", record) for record in bad]
    assert_observed(done)


def test_sample_parquet_to_postgres_spec_matches_pandas(
    client: Client, tmp_path: Path, migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generate_sales, "CHUNK_ROWS", 10_000)  # a row group, a partition each
    source = tmp_path / "data" / "sales.parquet"
    generate(source, SAMPLE_ROWS, bad=20, fmt="parquet")
    document = sample_spec("parquet_to_postgres.yaml")
    document["source"]["path"] = str(source)

    done = run(client, document, tmp_path, database_url=migrated_url)

    frame = pd.read_parquet(source).rename(
        columns={"order_date": "ordered_on", "unit_price": "list_price"}
    )
    frame = frame.assign(
        store_id=frame.store_id.astype(str), net_price=frame.list_price * (1 - frame.discount)
    )
    frame = frame[[*frame.columns[:9], "net_price"]]
    region = frame.region.astype(object)
    failing = (
        frame[["order_id", "ordered_on", "quantity"]].isna().any(axis=1)
        | region.isna()
        | (frame.quantity < 0)
        | (frame.discount < 0)
        | (frame.discount > 0.3)
        | (region.notna() & ~region.isin(SAMPLE_REGIONS))
        | ~frame["product"].astype(str).str.fullmatch(r"[A-Z]{4}-[0-9]{4}")
    )
    got = table_frame(migrated_url, "sales_orders")
    assert_same_rows(got, frame[~failing], ["order_id"])
    assert len(done.plan.partitions) == SAMPLE_ROWS // 10_000
    rejected = [int(position) + 1 for position in np.flatnonzero(failing.to_numpy())]
    assert reject_rows(done.result.rejects) == [("sales.parquet", record) for record in rejected]
    assert 20 <= len(rejected) < SAMPLE_ROWS // 100
    assert_observed(done)


def _libraries_mapped(pid: int) -> list[str]:
    """The data libraries whose compiled parts the process has loaded, read from outside it
    (a probe run on the scheduler would be pickled by reference and import this module)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    found = {"pyarrow": "/pyarrow/", "pandas": "/pandas/", "psycopg": "/psycopg_binary/"}
    return sorted(name for name, mark in found.items() if mark in maps)


def test_the_dask_scheduler_never_imports_the_engine_nor_its_data_libraries(
    client: Client, orders: Orders, tmp_path: Path
) -> None:
    steps: list[dict[str, Any]] = [
        {"op": "filter", "where": "quantity > 0"},
        {"op": "dedupe", "columns": ["invoice"]},
        {"op": "aggregate", "by": ["region"], "aggregations": {"units": "sum(quantity)"}},
        {"op": "sort", "by": ["units desc"]},
    ]
    done, got = run_to_parquet(client, orders.path, tmp_path, steps)

    assert done.result.rows_out == len(got) > 0
    assert _libraries_mapped(client.run_on_scheduler(os.getpid)) == []
