"""Transforms on one Table: row-wise with rejects, dedupe, join, sort."""

import json
import random
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pytest

from tuskflow.etl.errors import SpecError
from tuskflow.etl.sources import REJECT_SCHEMA
from tuskflow.etl.spec import (
    Cast,
    Dedupe,
    Derive,
    Filter,
    GroupBy,
    Rename,
    Select,
    Sort,
)
from tuskflow.etl.transforms import (
    apply_rowwise,
    dedupe,
    drop_hidden,
    is_rowwise,
    join,
    sort,
)

S = pa.large_string()


def table(file: str = "in.csv", first_row: int = 1, **columns: Any) -> pa.Table:
    """A table of these columns plus the hidden ones, rows numbered from ``first_row``."""
    data = pa.table(columns)
    rows = list(range(first_row, first_row + data.num_rows))
    data = data.append_column("_tf_file", pa.array([file] * data.num_rows, S))
    return data.append_column("_tf_row", pa.array(rows, pa.int64()))


def strings(*values: str | None) -> pa.Array:
    return pa.array(values, S)


# --- row-wise ------------------------------------------------------------------------------


def test_only_filter_select_rename_cast_derive_are_rowwise() -> None:
    assert is_rowwise(Filter(op="filter", where="a > 1"))
    assert is_rowwise(Select(op="select", columns=["a"]))
    assert is_rowwise(Rename(op="rename", columns={"a": "b"}))
    assert is_rowwise(Cast(op="cast", columns={"a": "int"}))
    assert is_rowwise(Derive(op="derive", column="b", expr="a"))
    assert not is_rowwise(Dedupe(op="dedupe"))
    assert not is_rowwise(Sort(op="sort", by=["a"]))
    assert not is_rowwise(GroupBy(op="aggregate", by=["a"], aggregations={"n": "count(*)"}))


def test_filter_keeps_true_rows_and_drops_null_ones_without_rejecting() -> None:
    data = table(amount=[5, None, 20, 1], name=strings("a", "b", "c", "d"))

    out, rejects = apply_rowwise(data, Filter(op="filter", where="amount > 2"))

    assert out.column("name").to_pylist() == ["a", "c"]
    assert out.column("_tf_row").to_pylist() == [1, 3]
    assert out.column_names == data.column_names
    assert rejects.num_rows == 0
    assert rejects.schema == REJECT_SCHEMA


def test_select_keeps_listed_columns_in_order_then_hidden_ones() -> None:
    data = table(a=[1], b=[2], c=[3])

    out, _ = apply_rowwise(data, Select(op="select", columns=["c", "a"]))

    assert out.column_names == ["c", "a", "_tf_file", "_tf_row"]


def test_select_of_an_unknown_column_names_it() -> None:
    with pytest.raises(SpecError, match="no column 'zz'"):
        apply_rowwise(table(a=[1]), Select(op="select", columns=["a", "zz"]))


def test_rename_renames_in_place_and_keeps_hidden_columns() -> None:
    data = table(a=[1], b=[2])

    out, _ = apply_rowwise(data, Rename(op="rename", columns={"a": "x"}))

    assert out.column_names == ["x", "b", "_tf_file", "_tf_row"]
    assert out.column("x").to_pylist() == [1]


def test_derive_adds_a_column_from_an_expression() -> None:
    data = table(price=[2.0, None, 1.5], qty=[3, 4, 2])

    out, _ = apply_rowwise(data, Derive(op="derive", column="total", expr="price * qty"))

    assert out.column("total").to_pylist() == [6.0, None, 3.0]
    assert out.column("_tf_row").to_pylist() == [1, 2, 3]


def test_derive_replaces_an_existing_column_where_it_stands() -> None:
    data = table(a=[1, 2], b=[10, 20])

    out, _ = apply_rowwise(data, Derive(op="derive", column="a", expr="a + b"))

    assert out.column_names == data.column_names
    assert out.column("a").to_pylist() == [11, 22]


def test_cast_converts_strings_to_every_type() -> None:
    data = table(
        i=strings("1", None),
        f=strings("2.5", "3"),
        b=strings("true", "false"),
        d=strings("2024-02-29", None),
        t=strings("2024-01-02 03:04:05", None),
    )
    spec = Cast(
        op="cast", columns={"i": "int", "f": "float", "b": "bool", "d": "date", "t": "timestamp"}
    )

    out, rejects = apply_rowwise(data, spec)

    assert rejects.num_rows == 0
    assert out.schema.field("i").type == pa.int64()
    assert out.to_pylist()[0] | {"_tf_row": 1} == {
        "i": 1,
        "f": 2.5,
        "b": True,
        "d": date(2024, 2, 29),
        "t": datetime(2024, 1, 2, 3, 4, 5),
        "_tf_file": "in.csv",
        "_tf_row": 1,
    }
    assert out.column("i").to_pylist() == [1, None]


def test_cast_failure_rejects_the_row_with_its_file_row_and_record() -> None:
    data = table(file="sales.csv", first_row=7, id=[1, 2, 3], amount=strings("1.5", "x", "2"))

    out, rejects = apply_rowwise(data, Cast(op="cast", columns={"amount": "float"}))

    assert out.column("id").to_pylist() == [1, 3]
    assert out.column("amount").to_pylist() == [1.5, 2.0]
    assert out.column("_tf_row").to_pylist() == [7, 9]
    assert rejects.schema == REJECT_SCHEMA
    assert rejects.column("source_file").to_pylist() == ["sales.csv"]
    assert rejects.column("row").to_pylist() == [8]
    assert rejects.column("reason").to_pylist() == ["cast amount: 'x' is not a float"]
    assert json.loads(rejects.column("record")[0].as_py()) == {"id": 2, "amount": "x"}


def test_cast_row_failing_in_two_columns_is_one_reject_with_both_reasons() -> None:
    data = table(a=strings("1", "y", "2"), b=strings("2.5", "z", "q"))

    out, rejects = apply_rowwise(data, Cast(op="cast", columns={"a": "int", "b": "float"}))

    assert out.column("a").to_pylist() == [1]
    assert rejects.column("row").to_pylist() == [2, 3]
    assert rejects.column("reason").to_pylist() == [
        "cast a: 'y' is not an int; cast b: 'z' is not a float",
        "cast b: 'q' is not a float",
    ]


def test_cast_of_a_float_with_a_fraction_to_int_rejects_it() -> None:
    out, rejects = apply_rowwise(table(a=[1.0, 1.5]), Cast(op="cast", columns={"a": "int"}))

    assert out.column("a").to_pylist() == [1]
    assert rejects.column("reason").to_pylist() == ["cast a: 1.5 is not an int"]


def test_cast_of_a_hexadecimal_string_to_int_rejects_it() -> None:
    data = table(a=strings("16", "0x10", "0X1f"))

    out, rejects = apply_rowwise(data, Cast(op="cast", columns={"a": "int"}))

    assert out.column("a").to_pylist() == [16]
    assert rejects.column("reason").to_pylist() == [
        "cast a: '0x10' is not an int",
        "cast a: '0X1f' is not an int",
    ]


def test_cast_finds_failures_across_chunks_by_their_position() -> None:
    first = table(first_row=1, a=strings(*[str(n) for n in range(100)]))
    second = table(
        first_row=101, a=strings(*[str(n) if n != 150 else "bad" for n in range(100, 200)])
    )
    data = pa.concat_tables([first, second])
    assert data.column("a").num_chunks == 2

    out, rejects = apply_rowwise(data, Cast(op="cast", columns={"a": "int"}))

    assert rejects.column("row").to_pylist() == [151]
    assert out.num_rows == 199
    assert out.column("a").to_pylist() == [n for n in range(200) if n != 150]


def test_cast_without_hidden_columns_rejects_with_null_file_and_row() -> None:
    data = pa.table({"a": strings("1", "x")})

    _, rejects = apply_rowwise(data, Cast(op="cast", columns={"a": "int"}))

    assert rejects.to_pylist() == [
        {
            "source_file": None,
            "row": None,
            "reason": "cast a: 'x' is not an int",
            "record": '{"a":"x"}',
        }
    ]


def test_cast_between_types_arrow_cannot_convert_is_a_spec_error() -> None:
    data = table(d=pa.array([date(2024, 1, 1)]))

    with pytest.raises(SpecError, match="cannot cast column 'd'"):
        apply_rowwise(data, Cast(op="cast", columns={"d": "int"}))


# --- dedupe --------------------------------------------------------------------------------


def test_dedupe_keeps_the_first_row_of_each_key_in_table_order() -> None:
    data = table(k=strings("b", "a", "b", None, "a", None), v=[1, 2, 3, 4, 5, 6])

    out = dedupe(data, ["k"])

    assert out.column("v").to_pylist() == [1, 2, 4]
    assert out.column("_tf_row").to_pylist() == [1, 2, 4]


def test_dedupe_without_columns_compares_visible_columns_only() -> None:
    data = table(k=[1, 1, 1, 2], v=strings("x", "x", "y", "x"))

    out = dedupe(data, [])

    assert out.column("_tf_row").to_pylist() == [1, 3, 4]


# --- join ----------------------------------------------------------------------------------


def test_join_keeps_left_order_and_suffixes_clashing_right_columns() -> None:
    left = table(file="orders.csv", id=[3, 1, 2, 3], name=strings("c1", "a", "b", "c2"))
    right = table(
        file="ids.csv", id=[1, 3, 4], name=strings("one", "three", "four"), w=[10, 30, 40]
    )

    out = join(left, right, ["id"], "inner")

    assert out.column_names == ["id", "name", "_tf_file", "_tf_row", "name_right", "w"]
    assert out.select(["id", "name", "name_right", "w"]).to_pylist() == [
        {"id": 3, "name": "c1", "name_right": "three", "w": 30},
        {"id": 1, "name": "a", "name_right": "one", "w": 10},
        {"id": 3, "name": "c2", "name_right": "three", "w": 30},
    ]
    assert out.column("_tf_file").to_pylist() == ["orders.csv"] * 3
    assert out.column("_tf_row").to_pylist() == [1, 2, 4]


def test_left_join_keeps_unmatched_and_null_keys_with_nulls_on_the_right() -> None:
    left = table(k=strings("a", None, "b"))
    right = table(k=strings(None, "a"), v=[1, 2])

    out = join(left, right, ["k"], "left")

    assert drop_hidden(out).to_pylist() == [
        {"k": "a", "v": 2},
        {"k": None, "v": None},
        {"k": "b", "v": None},
    ]


def test_join_keeps_order_of_many_rows_and_of_several_matches() -> None:
    rng = random.Random(7)
    keys = [rng.randrange(500) for _ in range(20_000)]
    left = table(k=keys)
    right = table(k=[*range(0, 500, 2), *range(0, 500, 2)], tag=["first"] * 250 + ["second"] * 250)

    out = join(left, right, ["k"], "inner")

    expected = [
        (row, tag) for row, k in enumerate(keys, 1) if k % 2 == 0 for tag in ("first", "second")
    ]
    assert (
        list(zip(out.column("_tf_row").to_pylist(), out.column("tag").to_pylist(), strict=True))
        == expected
    )


def test_join_on_two_keys_shows_them_once() -> None:
    left = table(a=[1, 1], b=strings("x", "y"), v=[1, 2])
    right = table(a=[1], b=strings("y"), v=[9])

    out = join(left, right, ["a", "b"], "inner")

    assert drop_hidden(out).to_pylist() == [{"a": 1, "b": "y", "v": 2, "v_right": 9}]


# --- sort and hidden columns ---------------------------------------------------------------


def test_sort_orders_by_columns_stably_with_nulls_last() -> None:
    data = table(a=[2, None, 1, 2, 1], b=strings("x", "y", "z", "w", "v"))

    assert sort(data, ordered("a")).column("_tf_row").to_pylist() == [3, 5, 1, 4, 2]
    down = ordered("a", descending=True)
    assert sort(data, down).column("_tf_row").to_pylist() == [1, 4, 3, 5, 2]
    assert sort(data, ordered("a", "b")).column("b").to_pylist() == ["v", "z", "w", "x", "y"]


def ordered(*by: str, **options: Any) -> Sort:
    return Sort.model_validate({"op": "sort", "by": list(by), **options})


def test_each_sort_key_takes_its_own_direction_as_in_sql() -> None:
    data = table(a=[2, None, 1, 2, 1], b=strings("x", "y", "z", "w", "v"))

    out = sort(data, ordered("a desc", "b ASC"))

    assert out.column("b").to_pylist() == ["w", "x", "v", "z", "y"]  # nulls last either way
    assert sort(data, ordered("a", "b desc", descending=True)).column("b").to_pylist() == [
        "x", "w", "z", "v", "y",
    ]  # fmt: skip


def test_a_sort_with_a_limit_keeps_the_top_rows_and_per_keeps_them_for_each_group() -> None:
    data = table(
        region=strings("n", "s", "n", None, "s", "n", None),
        revenue=[5, 9, 7, 1, 3, 7, 2],
    )

    top = sort(data, ordered("revenue desc", limit=2))
    per_region = sort(data, ordered("revenue desc", limit=2, per=["region"]))

    assert top.column("revenue").to_pylist() == [9, 7]
    assert drop_hidden(per_region).to_pylist() == [
        {"region": "n", "revenue": 7},
        {"region": "n", "revenue": 7},
        {"region": "s", "revenue": 9},
        {"region": "s", "revenue": 3},
        {"region": None, "revenue": 2},
        {"region": None, "revenue": 1},
    ]


def test_top_rows_of_each_partition_then_of_their_union_are_the_top_rows_of_all() -> None:
    data = table(k=strings(*"abcabcabca"), v=[4, 8, 1, 9, 2, 7, 3, 6, 5, 0])
    step = ordered("v desc", limit=2, per=["k"])

    parts = [sort(data.slice(at, 3), step) for at in (0, 3, 6, 9)]

    assert sort(pa.concat_tables(parts), step).equals(sort(data, step))


def test_per_without_a_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="per keeps the first rows of each group: give it a limit"):
        ordered("v", per=["k"])


def test_drop_hidden_leaves_only_visible_columns() -> None:
    assert drop_hidden(table(a=[1])).column_names == ["a"]
    assert drop_hidden(pa.table({"a": [1]})).column_names == ["a"]
