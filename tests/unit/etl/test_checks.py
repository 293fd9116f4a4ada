"""Data-quality checks on one Table: what each rejects, why, and which rows stay."""

import json
from datetime import date
from typing import Any

import pyarrow as pa
import pytest

from tuskflow.etl.checks import row_checks, row_count_problem, split_checks, unique_rejects
from tuskflow.etl.sources import REJECT_SCHEMA
from tuskflow.etl.spec import AcceptedValues, Check, NotNull, Range, Regex, RowCount, Unique

S = pa.large_string()


def table(file: str = "in.csv", **columns: Any) -> pa.Table:
    """A table of these columns plus the hidden ones, rows numbered from 1."""
    data = pa.table(columns)
    data = data.append_column("_tf_file", pa.array([file] * data.num_rows, S))
    return data.append_column("_tf_row", pa.array(range(1, data.num_rows + 1), pa.int64()))


def strings(*values: str | None) -> pa.Array:
    return pa.array(values, S)


def reasons(rejects: pa.Table) -> list[tuple[int, str]]:
    return list(zip(rejects["row"].to_pylist(), rejects["reason"].to_pylist(), strict=True))


def test_not_null_rejects_each_null_per_column() -> None:
    data = table(a=[1, None, 3], b=strings("x", "y", None))

    kept, rejects = row_checks(data, [NotNull(check="not_null", columns=["a", "b"])])

    assert kept.column("_tf_row").to_pylist() == [1]
    assert reasons(rejects) == [
        (2, "not_null(a): value is null"),
        (3, "not_null(b): value is null"),
    ]


def test_range_rejects_values_below_or_above_and_lets_nulls_pass() -> None:
    data = table(amount=[-3.5, 0.0, None, 100.0, 100.5])

    kept, rejects = row_checks(data, [Range(check="range", column="amount", min=0, max=100)])

    assert kept.column("amount").to_pylist() == [0.0, None, 100.0]
    assert reasons(rejects) == [
        (1, "range(amount): -3.5 is below 0"),
        (5, "range(amount): 100.5 is above 100"),
    ]


def test_range_with_one_bound_on_an_int_column() -> None:
    data = table(qty=[1, 5, 6])

    kept, rejects = row_checks(data, [Range(check="range", column="qty", max=5.5)])

    assert kept.column("qty").to_pylist() == [1, 5]
    assert reasons(rejects) == [(3, "range(qty): 6 is above 5.5")]


def test_accepted_values_rejects_others_and_lets_nulls_pass() -> None:
    data = table(status=strings("paid", "lost", None, "new"))
    check = AcceptedValues(check="accepted_values", column="status", values=["new", "paid"])

    kept, rejects = row_checks(data, [check])

    assert kept.column("status").to_pylist() == ["paid", None, "new"]
    assert reasons(rejects) == [(2, "accepted_values(status): 'lost' is not one of 'new', 'paid'")]


def test_accepted_values_on_an_int_column_ignores_values_of_no_such_int() -> None:
    data = table(code=[1, 2, 3])
    check = AcceptedValues(check="accepted_values", column="code", values=[1, "3", "x", 2.5])

    kept, rejects = row_checks(data, [check])

    assert kept.column("code").to_pylist() == [1, 3]
    assert reasons(rejects) == [(2, "accepted_values(code): 2 is not one of 1, '3', 'x', 2.5")]


def test_regex_searches_and_lets_nulls_pass() -> None:
    data = table(email=strings("a@x.org", "nobody", None, "b@y"))

    kept, rejects = row_checks(data, [Regex(check="regex", column="email", pattern="@")])

    assert kept.column("email").to_pylist() == ["a@x.org", None, "b@y"]
    assert reasons(rejects) == [(2, "regex(email): 'nobody' does not match '@'")]


def test_regex_on_a_non_string_column_matches_its_text() -> None:
    data = table(zip=[12345, 123])

    kept, rejects = row_checks(data, [Regex(check="regex", column="zip", pattern=r"^\d{5}$")])

    assert kept.column("zip").to_pylist() == [12345]
    assert reasons(rejects) == [(2, r"regex(zip): 123 does not match '^\\d{5}$'")]


def test_a_row_failing_several_checks_is_one_reject_with_reasons_in_check_order() -> None:
    data = table(file="orders.csv", id=[1, None], amount=[5.0, -1.0], day=[date(2024, 1, 1)] * 2)
    checks: list[Check] = [
        Range(check="range", column="amount", min=0),
        NotNull(check="not_null", columns=["id"]),
    ]

    kept, rejects = row_checks(data, checks)

    assert kept.num_rows == 1
    assert rejects.schema == REJECT_SCHEMA
    assert rejects.column("source_file").to_pylist() == ["orders.csv"]
    assert reasons(rejects) == [(2, "range(amount): -1.0 is below 0; not_null(id): value is null")]
    record = json.loads(rejects.column("record")[0].as_py())
    assert record == {"id": None, "amount": -1.0, "day": "2024-01-01"}


def test_row_checks_leave_unique_and_row_count_to_their_own_functions() -> None:
    data = table(a=[1, 1])
    checks: list[Check] = [
        Unique(check="unique", columns=["a"]),
        RowCount(check="row_count", max=0),
    ]

    kept, rejects = row_checks(data, checks)

    assert kept.num_rows == 2
    assert rejects.num_rows == 0


def test_unique_keeps_the_first_occurrence_and_rejects_later_ones() -> None:
    data = table(order_id=[1042, 7, 1042, 1042, 8])

    kept, rejects = unique_rejects(data, ["order_id"])

    assert kept.column("_tf_row").to_pylist() == [1, 2, 5]
    assert reasons(rejects) == [
        (3, "unique(order_id): 1042 seen before"),
        (4, "unique(order_id): 1042 seen before"),
    ]


def test_unique_on_two_columns_and_null_keys_are_never_duplicates() -> None:
    data = table(a=[1, 1, 1, None, None], b=strings("x", "y", "x", "x", "x"))

    kept, rejects = unique_rejects(data, ["a", "b"])

    assert kept.column("_tf_row").to_pylist() == [1, 2, 4, 5]
    assert reasons(rejects) == [(3, "unique(a, b): (1, 'x') seen before")]


@pytest.mark.parametrize(
    ("count", "low", "high", "problem"),
    [
        (5, 1, 10, None),
        (1, 1, 1, None),
        (0, None, 3, None),
        (0, 1, None, "row_count: the output holds 0 rows, fewer than the minimum 1"),
        (1, 2, None, "row_count: the output holds 1 row, fewer than the minimum 2"),
        (11, None, 10, "row_count: the output holds 11 rows, more than the maximum 10"),
    ],
)
def test_row_count_problem_names_the_bound_it_misses(
    count: int, low: int | None, high: int | None, problem: str | None
) -> None:
    check = RowCount(check="row_count", min=low, max=high)

    assert row_count_problem(count, check) == problem


def test_split_checks_sorts_them_by_how_they_run() -> None:
    not_null = NotNull(check="not_null", columns=["a"])
    unique = Unique(check="unique", columns=["a"])
    count = RowCount(check="row_count", min=1)
    regex = Regex(check="regex", column="a", pattern="x")

    assert split_checks([not_null, unique, count, regex]) == ([not_null, regex], [unique], [count])
