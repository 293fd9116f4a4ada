"""Expressions computed over a pyarrow Table, with SQL null semantics."""

from collections.abc import Sequence
from datetime import timedelta
from typing import cast

import pyarrow as pa
import pyarrow.compute as pc

from tuskflow.etl.arrow_types import ARROW_TYPES, type_name_of
from tuskflow.etl.errors import ExpressionError
from tuskflow.etl.expressions._calendar import add_months
from tuskflow.etl.expressions._kernels import KERNELS, _aligned, _is_null_type
from tuskflow.etl.expressions._nodes import (
    Binary,
    Column,
    Expr,
    In,
    Interval,
    Literal,
    LiteralValue,
    Unary,
    Value,
)
from tuskflow.etl.expressions._parse import columns
from tuskflow.etl.expressions._render import render
from tuskflow.etl.expressions._types import _literal_type, infer_type
from tuskflow.etl.types import TypeName


def evaluate(expr: Expr, table: pa.Table) -> pa.ChunkedArray | pa.Array:
    """The expression computed over every row of ``table``, as a column of its spec type."""
    names = columns(expr)
    missing = sorted(names - set(table.column_names))
    if missing:
        available = ", ".join(table.column_names) or "none"
        raise ExpressionError(f"unknown column {missing[0]!r}; available: {available}")
    schema = {name: type_name_of(table.schema.field(name).type) for name in names}
    result = ARROW_TYPES[infer_type(expr, schema)]
    try:
        value = _eval(expr, table)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ExpressionError(f"cannot evaluate {render(expr)!r}: {exc}") from None
    if isinstance(value, pa.Scalar):
        return pa.repeat(value.cast(result), table.num_rows)
    return value if value.type == result else value.cast(result)


def _eval(expr: Expr, table: pa.Table) -> Value:
    match expr:
        case Column(name):
            return table.column(name)
        case Literal() | Interval():
            return _constant(expr)
        case Unary(op, operand):
            return _eval_unary(op, _eval(operand, table))
        case Binary(op, left, right):
            return _eval_binary(op, _eval(left, table), _eval(right, table))
        case In(operand, items):
            return _eval_in(_eval(operand, table), [item.value for item in items])
    return KERNELS[expr.fn](expr, [_eval(arg, table) for arg in expr.args])


def _constant(expr: Literal | Interval) -> Value:
    if isinstance(expr, Interval) and expr.months is not None:
        return pa.scalar((expr.months, 0, 0), pa.month_day_nano_interval())
    if isinstance(expr, Interval):
        return pa.scalar(expr.span, pa.duration("us"))
    return _scalar(expr.value)


def _scalar(value: LiteralValue) -> Value:
    found = _literal_type(value)
    return pa.scalar(value, ARROW_TYPES[found] if found else pa.null())


_NULL_BOOL = pa.scalar(None, pa.bool_())


def _eval_unary(op: str, operand: Value) -> Value:
    if op == "not":
        return pc.invert(operand.cast(pa.bool_()))
    return operand if _is_null_type(operand) else pc.negate_checked(operand)


_KERNELS = {
    "+": pc.add_checked,
    "-": pc.subtract_checked,
    "*": pc.multiply_checked,
    "/": pc.divide,
    "%": pc.remainder,
    "==": pc.equal,
    "!=": pc.not_equal,
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
}


def _eval_binary(op: str, left: Value, right: Value) -> Value:
    if op in ("and", "or"):
        kleene = pc.and_kleene if op == "and" else pc.or_kleene
        return kleene(left.cast(pa.bool_()), right.cast(pa.bool_()))
    if _is_null_type(left) or _is_null_type(right):
        return pa.scalar(None)
    temporal = _temporal(op, left, right)
    if temporal is not None:
        return temporal
    if op == "/":
        left, right = left.cast(pa.float64()), right.cast(pa.float64())
    left, right = _aligned([left, right])
    if op in ("/", "%"):
        # SQL engines differ on x / 0; a null keeps one bad row from failing its partition.
        right = pc.if_else(pc.equal(right, 0), pa.scalar(None, right.type), right)
    return _KERNELS[op](left, right)


def _temporal(op: str, left: Value, right: Value) -> Value | None:
    """Date and time arithmetic, or None for other operands: see _types for the rules."""
    if op not in ("+", "-"):
        return None
    kinds = (_kind(left), _kind(right))
    if kinds in _SWAPPED:
        left, right, kinds = right, left, (kinds[1], kinds[0])
    if kinds[1] == "months" and kinds[0] in ("date", "timestamp"):
        months = right.as_py().months
        return add_months(left, months if op == "+" else -months)
    if kinds == ("date", "date") and op == "-":
        return pc.subtract(_days(left), _days(right))
    if kinds == ("date", "int"):
        days = pc.add(_days(left), right) if op == "+" else pc.subtract(_days(left), right)
        return days.cast(pa.int32()).cast(pa.date32())
    if kinds[1] == "duration" and kinds[0] in ("date", "timestamp"):
        moved = (pc.add if op == "+" else pc.subtract)(left.cast(pa.timestamp("us")), right)
        whole_days = right.as_py() % timedelta(days=1) == timedelta(0)
        return moved.cast(pa.date32()) if kinds[0] == "date" and whole_days else moved
    return None


# interval + date and int + date, computed as date + interval and date + int (the types refuse
# interval - date).
_SWAPPED = frozenset(
    {
        ("duration", "date"),
        ("duration", "timestamp"),
        ("months", "date"),
        ("months", "timestamp"),
        ("int", "date"),
    }
)


def _kind(value: Value) -> str:
    found = value.type
    if pa.types.is_date(found):
        return "date"
    if pa.types.is_timestamp(found):
        return "timestamp"
    if pa.types.is_duration(found):
        return "duration"
    if pa.types.is_interval(found):
        return "months"
    return "int" if pa.types.is_integer(found) else "other"


def _days(value: Value) -> Value:
    return value.cast(pa.int32()).cast(pa.int64())


def _eval_in(operand: Value, values: list[LiteralValue]) -> Value:
    present = [value for value in values if value is not None]
    if _is_null_type(operand) or not present:
        return pa.scalar(None)
    value_set = pa.array(present, type=_list_type(present))
    operand, value_set = _aligned([operand, value_set])
    found = pc.is_in(operand, value_set=value_set)
    if len(present) < len(values):
        found = pc.if_else(found, True, _NULL_BOOL)  # x in (1, null) is null unless x is 1
    return pc.if_else(pc.is_valid(operand), found, _NULL_BOOL)


def _list_type(values: Sequence[LiteralValue]) -> pa.DataType:
    found = [_literal_type(value) for value in values]
    return ARROW_TYPES["float" if "float" in found else cast(TypeName, found[0])]
