"""Data-quality checks on one Table: the rows each check rejects, with the reason.

Null values pass every check but not_null, as in SQL constraints.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tuskflow.etl.spec import AcceptedValues, Check, NotNull, Range, Regex, RowCount, Unique
from tuskflow.etl.transforms import reject_rows, show

RowCheck = NotNull | Range | AcceptedValues | Regex


@dataclass(frozen=True)
class _Test:
    """One column's test: where it fails (boolean, no nulls) and why, given the value."""

    column: str
    failing: Any
    reason: Callable[[Any], str]


def split_checks(
    checks: Iterable[Check],
) -> tuple[list[RowCheck], list[Unique], list[RowCount]]:
    """The checks by how they run: row by row, by key across the data, on the whole output."""
    row_level: list[RowCheck] = []
    unique: list[Unique] = []
    row_count: list[RowCount] = []
    for check in checks:
        if isinstance(check, Unique):
            unique.append(check)
        elif isinstance(check, RowCount):
            row_count.append(check)
        else:
            row_level.append(check)
    return row_level, unique, row_count


def row_checks(table: pa.Table, checks: Sequence[Check]) -> tuple[pa.Table, pa.Table]:
    """The rows passing every row-level check, and one reject per failing row with its reasons.

    Unique and row_count checks are not row-level and are left to their own functions.
    """
    reasons: dict[int, list[str]] = {}
    for check in split_checks(checks)[0]:
        for test in _tests(table, check):
            positions = pc.indices_nonzero(test.failing)
            values = table.column(test.column).take(positions).to_pylist()
            for position, value in zip(positions.to_pylist(), values, strict=True):
                reasons.setdefault(position, []).append(test.reason(value))
    return reject_rows(table, reasons)


def unique_rejects(table: pa.Table, columns: Sequence[str]) -> tuple[pa.Table, pa.Table]:
    """The table without rows whose key appeared earlier in it, and those rows as rejects.

    A key with a null in it is never a duplicate, as in a SQL unique constraint.
    """
    keys = table.select(columns)
    complete = pc.is_valid(keys.column(0))
    for column in keys.columns[1:]:
        complete = pc.and_(complete, pc.is_valid(column))
    index = pa.array(np.arange(table.num_rows, dtype=np.int64))
    indexed = keys.append_column("_tf_index", index).filter(complete)
    firsts = indexed.group_by(list(columns), use_threads=False).aggregate([("_tf_index", "min")])
    first = pc.is_in(index, value_set=firsts.column("_tf_index_min"))
    repeated = pc.indices_nonzero(pc.and_(complete, pc.invert(first))).to_pylist()
    label = ", ".join(columns)
    reasons = {
        position: [f"unique({label}): {_key(keys, position)} seen before"] for position in repeated
    }
    return reject_rows(table, reasons)


def _key(keys: pa.Table, position: int) -> str:
    values = [show(column[position].as_py()) for column in keys.columns]
    return values[0] if len(values) == 1 else f"({', '.join(values)})"


def row_count_problem(count: int, check: RowCount) -> str | None:
    """What is wrong with the output's row count, or None when it is within bounds."""
    rows = f"{count} row" + ("" if count == 1 else "s")
    if check.min is not None and count < check.min:
        return f"row_count: the output holds {rows}, fewer than the minimum {check.min}"
    if check.max is not None and count > check.max:
        return f"row_count: the output holds {rows}, more than the maximum {check.max}"
    return None


def _tests(table: pa.Table, check: RowCheck) -> list[_Test]:
    match check:
        case NotNull():
            return [_not_null(table, column) for column in check.columns]
        case Range():
            return [_range(table, check)]
        case AcceptedValues():
            return [_accepted(table, check)]
        case Regex():
            return [_regex(table, check)]


def _not_null(table: pa.Table, column: str) -> _Test:
    return _Test(
        column, pc.is_null(table.column(column)), lambda _: f"not_null({column}): value is null"
    )


def _range(table: pa.Table, check: Range) -> _Test:
    values = table.column(check.column)
    outside = []
    if check.min is not None:
        outside.append(pc.less(values, check.min))
    if check.max is not None:
        outside.append(pc.greater(values, check.max))
    failing = outside[0] if len(outside) == 1 else pc.or_(outside[0], outside[1])
    return _Test(check.column, pc.fill_null(failing, False), partial(_range_reason, check))


def _range_reason(check: Range, value: Any) -> str:
    prefix = f"range({check.column}): {show(value)}"
    if check.min is not None and value < check.min:
        return f"{prefix} is below {_number(check.min)}"
    return f"{prefix} is above {_number(check.max)}"


def _number(bound: float | None) -> str:
    return str(int(bound)) if bound is not None and bound.is_integer() else str(bound)


def _accepted(table: pa.Table, check: AcceptedValues) -> _Test:
    values = table.column(check.column)
    accepted = _value_set(check.values, values.type)
    failing = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=accepted)))
    listed = ", ".join(show(value) for value in check.values)
    return _Test(
        check.column,
        pc.fill_null(failing, False),
        lambda value: f"accepted_values({check.column}): {show(value)} is not one of {listed}",
    )


def _value_set(values: Sequence[str | int | float | bool], arrow_type: pa.DataType) -> pa.Array:
    """The accepted values in the column's type; one that cannot be of that type matches nothing."""
    converted = []
    for value in values:
        try:
            converted.append(pc.cast(pa.array([value]), arrow_type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            continue
    return pa.concat_arrays(converted) if converted else pa.array([], arrow_type)


def _regex(table: pa.Table, check: Regex) -> _Test:
    values = table.column(check.column)
    text = values if pa.types.is_large_string(values.type) else pc.cast(values, pa.large_string())
    failing = pc.invert(pc.match_substring_regex(text, check.pattern))
    return _Test(
        check.column,
        pc.fill_null(failing, False),
        lambda value: f"regex({check.column}): {show(value)} does not match {check.pattern!r}",
    )
