"""Calendar arithmetic with pyarrow: months added as SQL adds them, date_diff and date_trunc.

A month interval keeps the day of the month, or takes the month's last day when it has fewer
(``date '2024-01-31' + interval '1' month`` is 2024-02-29), and keeps a timestamp's time of
day, as PostgreSQL and DuckDB do. ``date_diff(unit, a, b)`` counts the unit's boundaries from
``a`` to ``b`` (DuckDB's rule: ``date_diff('month', date '2024-01-31', date '2024-02-01')`` is
1); ``date_trunc(unit, x)`` is x at the start of its unit, of x's own type.
"""

from typing import cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from tuskflow.etl.expressions._nodes import Call, Literal, Value

Ints = npt.NDArray[np.int64]

_US = {"hour": 3_600_000_000, "minute": 60_000_000, "second": 1_000_000}


def add_months(value: Value, months: int) -> Value:
    """``value`` (a date or timestamp column or scalar) moved by whole months."""
    array, scalar = _as_array(value)
    days = array.cast(pa.date32())
    filled = pc.fill_null(days, pa.scalar(0, pa.date32()))
    year, month, day = (_ints(part(filled)) for part in (pc.year, pc.month, pc.day))
    total = year * 12 + (month - 1) + months
    new_year, new_month = total // 12, total % 12 + 1
    first = _days_from_civil(new_year, new_month)
    length = _days_from_civil(new_year + (new_month == 12), new_month % 12 + 1) - first
    moved = pa.array(first + np.minimum(day, length) - 1, pa.int32()).cast(pa.date32())
    if pa.types.is_timestamp(array.type):
        stamp = pa.timestamp("us")
        time_of_day = pc.subtract(array.cast(stamp), filled.cast(stamp))
        moved = pc.add(moved.cast(stamp), time_of_day)
    moved = pc.if_else(pc.is_valid(array), moved, pa.scalar(None, moved.type))
    return moved[0] if scalar else moved


def date_diff(call: Call, args: list[Value]) -> Value:
    """How many of the unit's boundaries lie from the second argument to the third."""
    unit = _unit(call)
    start, end = args[1], args[2]
    if pa.types.is_null(start.type) or pa.types.is_null(end.type):
        return pa.scalar(None, pa.int64())
    if unit in ("year", "quarter", "month"):
        per_year = {"year": 1, "quarter": 4, "month": 12}[unit]
        return pc.subtract(_ordinal(end, unit, per_year), _ordinal(start, unit, per_year))
    if unit == "day":
        return pc.subtract(_day_number(end), _day_number(start))
    stamp = pa.timestamp("us")
    ends, starts = (pc.floor_temporal(each.cast(stamp), unit=unit) for each in (end, start))
    micros = pc.subtract(ends, starts).cast(pa.int64())
    return pc.divide(micros, _US[unit])


def date_trunc(call: Call, args: list[Value]) -> Value:
    """The second argument at the start of its unit (a week starts on Monday)."""
    value = args[1]
    if pa.types.is_null(value.type):
        return value
    return pc.floor_temporal(value, unit=_unit(call))


def _ordinal(value: Value, unit: str, per_year: int) -> Value:
    """The value's year, quarter or month counted from year 0."""
    years = pc.multiply(pc.year(value), per_year)
    if unit == "year":
        return years
    part = pc.quarter(value) if unit == "quarter" else pc.month(value)
    return pc.add(years, part)


def _day_number(value: Value) -> Value:
    return value.cast(pa.date32()).cast(pa.int32()).cast(pa.int64())


def _unit(call: Call) -> str:
    return cast(str, cast(Literal, call.args[0]).value)


def _as_array(value: Value) -> tuple[pa.Array, bool]:
    if isinstance(value, pa.Scalar):
        return pa.array([value.as_py()], value.type), True
    if isinstance(value, pa.ChunkedArray):
        return value.combine_chunks(), False
    return value, False


def _ints(values: pa.Array) -> Ints:
    return cast(Ints, values.to_numpy(zero_copy_only=False).astype(np.int64))


def _days_from_civil(year: Ints, month: Ints) -> Ints:
    """Days from 1970-01-01 to the first of the month (the proleptic Gregorian calendar)."""
    year = year - (month <= 2)
    era = year // 400
    of_era = year - era * 400
    of_year = (153 * ((month + 9) % 12) + 2) // 5
    of_cycle = of_era * 365 + of_era // 4 - of_era // 100 + of_year
    return cast(Ints, era * 146_097 + of_cycle - 719_468)
