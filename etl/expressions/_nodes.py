"""The frozen nodes of an expression tree, and the grammar words several steps share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LiteralValue = str | int | float | bool | None
Value = Any  # a pyarrow Array, ChunkedArray or Scalar: pyarrow is untyped


@dataclass(frozen=True)
class Column:
    """A column of the table, by name."""

    name: str


@dataclass(frozen=True)
class Literal:
    """A constant: string, int, float, bool or null."""

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
class Call:
    """One of the fixed functions applied to its arguments."""

    fn: str
    args: tuple[Expr, ...]


Expr = Column | Literal | Unary | Binary | In | Call

_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})


def _is_number(value: LiteralValue) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
