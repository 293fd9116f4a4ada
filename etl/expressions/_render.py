"""Expression trees back to SQL text, which parses back to the same tree."""

import re
from datetime import date, datetime
from typing import cast

from tuskflow.etl.expressions._nodes import (
    _COMPARISONS,
    _KEYWORDS,
    Binary,
    Call,
    Column,
    Expr,
    In,
    Interval,
    Literal,
    LiteralValue,
    Unary,
    _is_number,
)

_BARE_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_SQL_OPS = {"==": "=", "!=": "<>"}
_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "in": 4, "like": 4, **dict.fromkeys(_COMPARISONS, 4)}
_PRECEDENCE |= {"+": 5, "-": 5, "*": 6, "/": 6, "%": 6, "neg": 7}


def render(expr: Expr) -> str:
    """The expression as SQL text that parses back to the same tree."""
    match expr:
        case Column(name):
            return name if _is_bare(name) else "`" + name.replace("`", "``") + "`"
        case Literal(value):
            return _render_literal(value)
        case Unary(op, operand):
            level = _PRECEDENCE["neg" if op == "-" else "not"]
            return ("-" if op == "-" else "not ") + _wrap(operand, level, right=True)
        case Binary(op, left, right):
            level = _PRECEDENCE[op]
            sql = _SQL_OPS.get(op, op)
            return f"{_wrap(left, level, right=False)} {sql} {_wrap(right, level, right=True)}"
        case In(operand, values):
            items = ", ".join(_render_literal(value.value) for value in values)
            return f"{_wrap(operand, _PRECEDENCE['in'], right=False)} in ({items})"
    return _render_call(expr)


def _render_call(call: Call | Interval) -> str:
    if isinstance(call, Interval):
        return f"interval '{call.amount}' {call.unit}"
    args = call.args
    if call.fn == "is_null":
        return f"{_wrap(args[0], _PRECEDENCE['like'], right=False)} is null"
    if call.fn in ("like", "ilike"):
        pattern = render(args[1])
        return f"{_wrap(args[0], _PRECEDENCE['like'], right=False)} {call.fn} {pattern}"
    if call.fn in ("cast", "try_cast"):
        target = cast(Literal, args[1]).value
        return f"{call.fn}({render(args[0])} as {_SQL_TYPES[cast(str, target)]})"
    return f"{call.fn}({', '.join(render(arg) for arg in args)})"


_SQL_TYPES = {
    "string": "varchar",
    "int": "bigint",
    "float": "double",
    "bool": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}
# Words SQL reads as its own, which a column of that name must be quoted to escape.
_RESERVED = frozenset(
    {"all", "any", "array", "as", "asc", "between", "by", "case", "cast", "create", "date"}
    | {"desc", "distinct", "else", "end", "except", "exists", "extract", "filter", "from"}
    | {"group", "having", "if", "ilike", "interval", "is", "join", "left", "like", "limit"}
    | {"natural", "order", "over", "right", "select", "then", "timestamp", "union", "using"}
    | {"when", "where", "window", "with", "collate", "escape", "full", "inner", "outer"}
    | {"glob", "similar", "pivot", "unpivot", "qualify", "offset", "on", "to", "with"}
)


def _is_bare(name: str) -> bool:
    word = name.lower()
    return bool(_BARE_NAME.fullmatch(name)) and word not in _KEYWORDS and word not in _RESERVED


def _render_literal(value: LiteralValue) -> str:
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, datetime):
        return f"timestamp '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"date '{value.isoformat()}'"
    return repr(value)


def _wrap(expr: Expr, level: int, *, right: bool) -> str:
    text = render(expr)
    if isinstance(expr, Binary | In):
        inner = _PRECEDENCE["in" if isinstance(expr, In) else expr.op]
    elif isinstance(expr, Call) and expr.fn in ("like", "ilike", "is_null"):
        inner = _PRECEDENCE["like"]
    elif isinstance(expr, Unary):
        inner = _PRECEDENCE["neg" if expr.op == "-" else "not"]
    elif isinstance(expr, Literal) and _is_number(expr.value) and cast(float, expr.value) < 0:
        inner = _PRECEDENCE["neg"]
    else:
        return text
    comparison = level == _PRECEDENCE["in"]
    needs = inner < level or (inner == level and (right or comparison))
    return f"({text})" if needs else text
