"""Month intervals, date_diff, date_trunc and the one-sided trims agree with DuckDB row by row."""

import datetime as dt
import random

import duckdb
import pyarrow as pa
import pytest

from tuskflow.etl.errors import ExpressionError
from tuskflow.etl.expressions import evaluate, parse


def _dates() -> list[dt.date]:
    """Month ends, leap days and random days from 1899 to 2101."""
    picked = random.Random(7)
    ends = [dt.date(year, 3, 1) - dt.timedelta(days=1) for year in (1900, 2000, 2023, 2024)]
    ends += [dt.date(2024, month, 1) - dt.timedelta(days=1) for month in range(2, 13)]
    start = dt.date(1899, 1, 1).toordinal()
    spread = [dt.date.fromordinal(start + picked.randrange(74_000)) for _ in range(300)]
    return ends + spread


def _timestamps() -> list[dt.datetime]:
    picked = random.Random(11)
    return [
        dt.datetime.combine(day, dt.time(picked.randrange(24), picked.randrange(60), 59))
        for day in _dates()
    ]


TABLE = pa.table(
    {
        "d": pa.array([*_dates(), None], pa.date32()),
        "e": pa.array([*reversed(_dates()), dt.date(2024, 1, 1)], pa.date32()),
        "ts": pa.array([*_timestamps(), None], pa.timestamp("us")),
        "us": pa.array([*reversed(_timestamps()), None], pa.timestamp("us")),
    }
)

CALENDAR = [
    "d + interval '1' month",
    "d - interval '13' month",
    "d + interval '2' quarter",
    "interval '1' year + d",
    "d - interval '4' year",
    "ts + interval '1' month",
    "ts - interval '25' month",
    "date_diff('year', d, e)",
    "date_diff('quarter', d, e)",
    "date_diff('month', d, e)",
    "date_diff('day', d, e)",
    "date_diff('day', ts, us)",
    "date_diff('hour', ts, us)",
    "date_diff('minute', ts, us)",
    "date_diff('second', ts, us)",
    "date_trunc('year', d)",
    "date_trunc('quarter', d)",
    "date_trunc('month', ts)",
    "date_trunc('week', d)",
    "date_trunc('hour', ts)",
]


def _duckdb(text: str, table: pa.Table) -> list[object]:
    # DuckDB turns date + interval and date_trunc on a date into timestamps; ours stay dates.
    with duckdb.connect() as con:
        con.register("t", table)
        values = con.execute(f"SELECT {text} FROM t").fetchall()  # noqa: S608  the test's own text
    return [_as_date(row[0]) for row in values]


def _as_date(value: object) -> object:
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date()
    return value


@pytest.mark.parametrize("text", CALENDAR)
def test_calendar_arithmetic_equals_duckdbs_row_by_row(text: str) -> None:
    ours = [_as_date(value) for value in evaluate(parse(text), TABLE).to_pylist()]
    assert ours == _duckdb(text, TABLE)


def test_a_month_added_to_a_months_last_day_lands_on_the_next_months_last() -> None:
    days = pa.table({"d": pa.array([dt.date(2024, 1, 31), dt.date(2023, 1, 31)], pa.date32())})
    moved = evaluate(parse("d + interval '1' month"), days)
    assert moved.to_pylist() == [dt.date(2024, 2, 29), dt.date(2023, 2, 28)]
    assert moved.type == pa.date32()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ltrim(s)", ["a  ", "b", None]),
        ("rtrim(s)", ["  a", " b", None]),
        ("trim(s)", ["a", "b", None]),
    ],
)
def test_ltrim_and_rtrim_trim_one_side_only(text: str, expected: list[str | None]) -> None:
    strings = pa.table({"s": pa.array(["  a  ", " b", None], pa.large_string())})
    assert evaluate(parse(text), strings).to_pylist() == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("date_diff('fortnight', d, e)", "datediff takes a unit"),
        ("date_trunc('century', d)", "takes a unit"),
        ("trim('x' from s)", "trim takes one string"),
    ],
)
def test_an_unknown_unit_or_trim_character_is_refused_with_its_position(
    text: str, message: str
) -> None:
    with pytest.raises(ExpressionError, match=message):
        parse(text)
