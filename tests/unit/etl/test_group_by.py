"""The aggregate step: its two phases, SQL's aggregate semantics, exact distinct counts."""

import random
from datetime import date
from typing import Any

import pandas as pd  # no stubs installed
import pyarrow as pa
import pytest

from tuskflow.etl.errors import ExpressionError
from tuskflow.etl.group_by import aggregate_calls, final, partial
from tuskflow.etl.spec import Aggregation, GroupBy

S = pa.large_string()


def table(file: str = "in.csv", **columns: Any) -> pa.Table:
    """A table of these columns plus the hidden ones a source adds."""
    data = pa.table(columns)
    data = data.append_column("_tf_file", pa.array([file] * data.num_rows, S))
    return data.append_column("_tf_row", pa.array(range(1, data.num_rows + 1), pa.int64()))


def strings(*values: str | None) -> pa.Array:
    return pa.array(values, S)


def group_by(by: list[str], **aggregations: tuple[str, str | None]) -> GroupBy:
    return GroupBy(
        op="aggregate",
        by=by,
        aggregations={
            name: Aggregation.model_validate({"fn": fn, "column": column})
            for name, (fn, column) in aggregations.items()
        },
    )


def sql(by: list[str], **aggregations: str) -> GroupBy:
    return GroupBy(op="aggregate", by=by, aggregations=dict(aggregations))


def two_phases(step: GroupBy, *parts: pa.Table) -> list[dict[str, Any]]:
    """The step over these partitions, each partial apart, rows sorted by their keys."""
    out = final(pa.concat_tables([partial(part, step) for part in parts]), step)
    rows: list[dict[str, Any]] = out.to_pylist()
    return sorted(rows, key=lambda row: [str(row[key]) for key in step.by])


# --- group-by ------------------------------------------------------------------------------


def test_group_by_by_hand_names_columns_keys_first_and_drops_hidden() -> None:
    data = table(
        region=strings("n", "s", "n", "n"),
        amount=[10, 5, None, 4],
    )
    spec = group_by(
        ["region"],
        orders=("count", None),
        total=("sum", "amount"),
        avg=("mean", "amount"),
        low=("min", "amount"),
        high=("max", "amount"),
    )

    out = final(partial(data, spec), spec)

    assert out.column_names == ["region", "orders", "total", "avg", "low", "high"]
    assert sorted(out.to_pylist(), key=lambda row: row["region"]) == [
        {"region": "n", "orders": 3, "total": 14, "avg": 7.0, "low": 4, "high": 10},
        {"region": "s", "orders": 1, "total": 5, "avg": 5.0, "low": 5, "high": 5},
    ]


def test_group_by_result_types_follow_the_functions() -> None:
    data = table(
        k=strings("a", "a"),
        n=[1, 2],
        d=pa.array([date(2024, 5, 1), date(2023, 1, 1)]),
        s=strings("pear", "apple"),
    )
    spec = group_by(
        ["k"],
        c=("count", None),
        total=("sum", "n"),
        avg=("mean", "n"),
        first=("min", "d"),
        last=("max", "s"),
    )

    out = final(partial(data, spec), spec)

    assert [out.schema.field(name).type for name in out.column_names] == [
        S,
        pa.int64(),
        pa.int64(),
        pa.float64(),
        pa.date32(),
        S,
    ]
    assert out.to_pylist() == [
        {"k": "a", "c": 2, "total": 3, "avg": 1.5, "first": date(2023, 1, 1), "last": "pear"}
    ]


def test_group_by_of_only_nulls_is_null_but_their_rows_are_counted() -> None:
    data = table(k=strings("a", "a"), v=pa.array([None, None], pa.float64()))
    spec = group_by(["k"], n=("count", None), s=("sum", "v"), m=("mean", "v"), lo=("min", "v"))

    out = final(partial(data, spec), spec)

    assert out.to_pylist() == [{"k": "a", "n": 2, "s": None, "m": None, "lo": None}]


def test_group_by_groups_null_keys_together_and_allows_the_same_column_twice() -> None:
    data = table(k=strings(None, "a", None), v=[1, 2, 3])
    spec = group_by(["k"], v_sum=("sum", "v"), k_count=("count", None), again=("sum", "v"))

    out = final(partial(data, spec), spec)

    rows = sorted(out.to_pylist(), key=lambda row: str(row["k"]))
    assert rows == [
        {"k": None, "v_sum": 4, "k_count": 2, "again": 4},
        {"k": "a", "v_sum": 2, "k_count": 1, "again": 2},
    ]


def _random_partition(seed: int, rows: int) -> pa.Table:
    rng = random.Random(seed)
    return table(
        file=f"part-{seed}.csv",
        region=strings(*[rng.choice(["n", "s", "e", None]) for _ in range(rows)]),
        shop=pa.array([rng.choice([1, 2, 3]) for _ in range(rows)], pa.int64()),
        qty=pa.array([rng.choice([None, *range(-5, 50)]) for _ in range(rows)], pa.int64()),
        price=pa.array(
            [rng.choice([None, rng.uniform(0, 100)]) for _ in range(rows)], pa.float64()
        ),
    )


def _only_nulls(rows: int) -> pa.Table:
    return table(
        region=strings(*["z"] * rows),
        shop=pa.array([9] * rows, pa.int64()),
        qty=pa.nulls(rows, pa.int64()),
        price=pa.nulls(rows, pa.float64()),
    )


def test_partial_then_final_over_three_partitions_equals_pandas_groupby_of_all() -> None:
    parts = [_random_partition(seed, rows) for seed, rows in ((1, 400), (2, 611), (3, 250))]
    # A group whose values are all null, spread over two partitions, and an empty partition.
    only_nulls = _only_nulls(rows=2)
    parts = [
        pa.concat_tables([parts[0], only_nulls]),
        parts[1],
        pa.concat_tables([parts[2], only_nulls]),
    ]
    parts.append(_random_partition(4, 0))
    spec = group_by(
        ["region", "shop"],
        n=("count", None),
        qty_sum=("sum", "qty"),
        price_mean=("mean", "price"),
        qty_min=("min", "qty"),
        price_max=("max", "price"),
    )
    partials = pa.concat_tables([partial(part, spec) for part in parts])

    out = final(partials, spec).to_pandas()

    frame = pa.concat_tables(parts).to_pandas()
    grouped = frame.groupby(["region", "shop"], dropna=False)
    expected = pd.DataFrame(
        {
            "n": grouped.size(),
            "qty_sum": grouped["qty"].sum(min_count=1),
            "price_mean": grouped["price"].mean(),
            "qty_min": grouped["qty"].min(),
            "price_max": grouped["price"].max(),
        }
    ).reset_index()
    assert len(out) == len(expected) == 13
    keys = ["region", "shop"]
    actual = out.sort_values(keys, na_position="last").reset_index(drop=True)
    expected = expected.sort_values(keys, na_position="last").reset_index(drop=True)
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False, check_exact=False)


# --- SQL aggregations ----------------------------------------------------------------------


def test_count_of_a_column_skips_its_nulls_as_sql_does_and_count_star_counts_rows() -> None:
    data = table(k=strings("a", "a", "a", "b"), v=pa.array([1, None, None, None], pa.int64()))
    step = sql(["k"], rows="count(*)", values="count(v)")
    older = group_by(["k"], rows=("count", None), values=("count", "v"))

    assert two_phases(step, data) == [
        {"k": "a", "rows": 3, "values": 1},
        {"k": "b", "rows": 1, "values": 0},
    ]
    assert two_phases(older, data) == two_phases(step, data)


def test_an_expression_inside_an_aggregate_equals_deriving_it_first() -> None:
    data = table(
        k=strings("a", "a", "b"),
        price=pa.array([10.0, 20.0, 5.0]),
        discount=pa.array([0.1, None, 0.5]),
    )
    step = sql(
        ["k"],
        revenue="sum(price * (1 - discount))",
        big="count(case when price > 8 then 1 end)",
        share="avg(coalesce(discount, 0))",
    )

    assert two_phases(step, data.slice(0, 1), data.slice(1)) == [
        {"k": "a", "revenue": 9.0, "big": 2, "share": 0.05},
        {"k": "b", "revenue": 2.5, "big": 0, "share": 0.5},
    ]


def test_a_global_aggregate_is_one_row_even_over_no_rows() -> None:
    data = table(v=pa.array([4, None, 2], pa.int64()), s=strings("x", "y", "x"))
    step = sql([], n="count(*)", total="sum(v)", mean="avg(v)", kinds="count(distinct s)")

    assert two_phases(step, data.slice(0, 2), data.slice(2)) == [
        {"n": 3, "total": 6, "mean": 3.0, "kinds": 2}
    ]
    assert two_phases(step, data.slice(0, 0)) == [{"n": 0, "total": None, "mean": None, "kinds": 0}]


def test_distinct_counts_are_exact_across_partitions_and_skip_nulls() -> None:
    rng = random.Random(7)
    parts = [
        table(
            k=strings(*[rng.choice(["n", "s", None]) for _ in range(rows)]),
            shop=pa.array([rng.choice([None, *range(40)]) for _ in range(rows)], pa.int64()),
            city=strings(*[rng.choice([None, "x", "y", "z"]) for _ in range(rows)]),
        )
        for rows in (300, 0, 451, 97)
    ]
    step = sql(["k"], shops="count(distinct shop)", cities="count(distinct city)", n="count(*)")

    out = two_phases(step, *parts)

    frame = pa.concat_tables(parts).to_pandas()
    grouped = frame.groupby("k", dropna=False)
    expected = sorted(
        (
            {"k": None if pd.isna(key) else key, "shops": int(group["shop"].nunique()),
             "cities": int(group["city"].nunique()), "n": len(group)}
            for key, group in grouped
        ),
        key=lambda row: str(row["k"]),
    )  # fmt: skip
    assert out == expected
    assert {row["k"] for row in out} == {"n", "s", None}


def test_avg_and_the_older_mean_are_one_function() -> None:
    data = table(k=strings("a", "a"), v=pa.array([1, 2], pa.int64()))

    assert two_phases(sql(["k"], m="avg(v)"), data) == two_phases(
        group_by(["k"], m=("mean", "v")), data
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("v + 1", "an aggregation is one of count, sum, avg, min or max at 0"),
        ("sum(*)", "sum(*) is not an aggregation; only count(*) is"),
        ("sum(a.b)", "qualified names (a.b) are not part of the grammar"),
        ("median(v)", "an aggregation is one of count, sum, avg, min or max"),
    ],
)
def test_an_aggregation_that_is_not_one_is_refused_with_its_position(
    text: str, message: str
) -> None:
    with pytest.raises(ExpressionError) as caught:
        aggregate_calls(sql(["k"], out=text))

    assert message in str(caught.value)
