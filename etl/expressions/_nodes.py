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
    """``interval '90' day``: a fixed span, only added to or subtracted from a date or time."""

    amount: int
    unit: str  # week, day, hour, minute or second

    @property
    def span(self) -> timedelta:
        """The interval as a timedelta."""
        return timedelta(**{f"{self.unit}s": self.amount})


@dataclass(frozen=True)
class Call:
    """One of the fixed functions applied to its arguments."""

    fn: str
    args: tuple[Expr, ...]


Expr = Column | Literal | Unary | Binary | In | Interval | Call

_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})
INTERVAL_UNITS = ("week", "day", "hour", "minute", "second")


def _is_number(value: LiteralValue) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
