"""The type of an expression's result, by the rules of each operator and function."""

from collections.abc import Mapping
from datetime import date, datetime

from tuskflow.etl.errors import ExpressionError
from tuskflow.etl.expressions._functions import FUNCTIONS, _name, _type_error, _unify
from tuskflow.etl.expressions._nodes import (
    _COMPARISONS,
    Binary,
    Column,
    Expr,
    In,
    Interval,
    Literal,
    LiteralValue,
    Unary,
)
from tuskflow.etl.types import NUMERIC, TypeName

_VERBS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "%": "take the remainder of"}


def infer_type(expr: Expr, schema: Mapping[str, TypeName]) -> TypeName:
    """The type of an expression's result, or ExpressionError for an unknown column or a mix."""
    # A lone null has no type of its own; arrow's null type reads as string (types.py).
    return _type(expr, schema) or "string"


def _type(expr: Expr, schema: Mapping[str, TypeName]) -> TypeName | None:
    match expr:
        case Column(name):
            if name not in schema:
                available = ", ".join(schema) or "none"
                raise ExpressionError(f"unknown column {name!r}; available: {available}")
            return schema[name]
        case Literal(value):
            return _literal_type(value)
        case Unary():
            return _unary_type(expr, _type(expr.operand, schema))
        case Binary() | Interval():
            return _binary_node_type(expr, schema)
        case In(operand, items):
            found = _type(operand, schema)
            for item in items:
                _comparable(expr, found, _literal_type(item.value))
            return "bool"
    return FUNCTIONS[expr.fn].typer(expr, [_type(arg, schema) for arg in expr.args])


def _binary_node_type(expr: Binary | Interval, schema: Mapping[str, TypeName]) -> TypeName | None:
    match expr:
        case Binary(_, Interval() as span, other) | Binary(_, other, Interval() as span):
            return _interval_type(expr, span, _type(other, schema))
        case Binary():
            return _binary_type(expr, _type(expr.left, schema), _type(expr.right, schema))
    raise _type_error(expr, "an interval only adds to or subtracts from a date or time")


def _literal_type(value: LiteralValue) -> TypeName | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, date):
        return "date"
    return "int" if isinstance(value, int) else "float"


def _interval_type(expr: Binary, span: Interval, other: TypeName | None) -> TypeName | None:
    """date or timestamp +/- interval; interval + date too, but never interval - date."""
    if expr.op not in ("+", "-") or (expr.op == "-" and expr.left is span):
        raise _type_error(expr, "an interval only adds to or subtracts from a date or time")
    if other not in (None, "date", "timestamp"):
        raise _type_error(expr, f"cannot add an interval to {other}")
    return "date" if other == "date" and span.whole_days else ("timestamp" if other else None)


def _date_arithmetic_type(
    expr: Binary, left: TypeName | None, right: TypeName | None
) -> TypeName | None:
    """date - date is days (an int), date +/- int is a date, as in PostgreSQL and DuckDB."""
    if expr.op == "-" and left == right == "date":
        return "int"
    if expr.op in ("+", "-") and left == "date" and right in ("int", None):
        return "date"
    if expr.op == "+" and right == "date" and left in ("int", None):
        return "date"
    if "timestamp" in (left, right) and left == right and expr.op == "-":
        hint = "date_diff('second', a, b) counts the seconds from a to b"
        raise _type_error(expr, "timestamp - timestamp is not supported yet", hint)
    return None


def _unary_type(expr: Unary, found: TypeName | None) -> TypeName | None:
    if expr.op == "not":
        if found not in (None, "bool"):
            raise _type_error(expr, f"not needs a bool operand, not {found}")
        return "bool"
    if found is not None and found not in NUMERIC:
        raise _type_error(expr, f"cannot negate {found}")
    return found


def _binary_type(expr: Binary, left: TypeName | None, right: TypeName | None) -> TypeName | None:
    if expr.op in ("and", "or"):
        if {left, right} - {None, "bool"}:
            pair = f"{_name(left)} and {_name(right)}"
            raise _type_error(expr, f"{expr.op} needs bool operands, not {pair}")
        return "bool"
    if expr.op in _COMPARISONS:
        _comparable(expr, left, right)
        return "bool"
    temporal = _date_arithmetic_type(expr, left, right)
    if temporal is not None:
        return temporal
    if {left, right} - {None, "int", "float"}:
        hint = "use concat()" if expr.op == "+" and "string" in (left, right) else ""
        verb = _VERBS[expr.op]
        raise _type_error(expr, f"cannot {verb} {_name(left)} and {_name(right)}", hint)
    if expr.op == "/":
        return "float"
    return _unify(left, right)


def _comparable(expr: Expr, left: TypeName | None, right: TypeName | None) -> None:
    if left is None or right is None or left == right or {left, right} <= NUMERIC:
        return
    hint = "write a date as date 'YYYY-MM-DD'" if {left, right} == {"date", "string"} else ""
    raise _type_error(expr, f"cannot compare {left} and {right}", hint)
