"""The frozen nodes of an expression tree, and the grammar words several steps share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

LiteralValue = str | int | float | bool | date | datetime | None
Value = Any  # a pyarrow Array, ChunkedArray or Scalar: pyarrow is untyped


@dataclass(frozen=True)
class Column:
    """A column of the table, by name."""

    name: str


@dataclass(frozen=True)
class Literal:
    """A constant: string, int, float, bool, date, timestamp (a datetime) or null."""

    value: LiteralValue


@dataclass(frozen=True)
class Unary:
    """``-x`` or ``not x``."""

    op: str
    operand: Expr


@dataclass(frozen=True)
class Binary:
    """An arithmetic, comparison or boolean operator between two expressions."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class In:
    """``operand in (literal, ...)``."""

    operand: Expr
    values: tuple[Literal, ...]


@dataclass(frozen=True)
class Interval:
    """``interval '90' day`` or ``interval '3' month``, only added to or subtracted from a date
    or time: a fixed span (week to second) or whole months (month, quarter, year)."""

    amount: int
    unit: str  # one of INTERVAL_UNITS

    @property
    def months(self) -> int | None:
        """The whole months of a calendar interval; None for a fixed span."""
        per = CALENDAR_MONTHS.get(self.unit)
        return None if per is None else per * self.amount

    @property
    def span(self) -> timedelta:
        """A fixed interval as a timedelta."""
        return timedelta(**{f"{self.unit}s": self.amount})

    @property
    def whole_days(self) -> bool:
        """Whether it moves a date to a date (days, weeks and months do, hours do not)."""
        return self.unit in ("day", "week", *CALENDAR_MONTHS)


@dataclass(frozen=True)
class Call:
    """One of the fixed functions applied to its arguments."""

    fn: str
    args: tuple[Expr, ...]


Expr = Column | Literal | Unary | Binary | In | Interval | Call

_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})
CALENDAR_MONTHS = {"year": 12, "quarter": 3, "month": 1}
INTERVAL_UNITS = (*CALENDAR_MONTHS, "week", "day", "hour", "minute", "second")


def _is_number(value: LiteralValue) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
