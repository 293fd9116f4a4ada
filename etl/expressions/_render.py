"""Expression trees back to text."""

import re
from typing import cast

from tuskflow.etl.expressions._nodes import (
    _COMPARISONS,
    _KEYWORDS,
    Binary,
    Column,
    Expr,
    In,
    Literal,
    LiteralValue,
    Unary,
    _is_number,
)

_BARE_NAME = re.compile(r"[^\W\d]\w*")
_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "in": 4, **dict.fromkeys(_COMPARISONS, 4)}
_PRECEDENCE |= {"+": 5, "-": 5, "*": 6, "/": 6, "%": 6, "neg": 7}


def render(expr: Expr) -> str:
    """The expression as text that parses back to the same tree."""
    match expr:
        case Column(name):
            plain = _BARE_NAME.fullmatch(name) and name.lower() not in _KEYWORDS
            return name if plain else "`" + name.replace("`", "``") + "`"
        case Literal(value):
            return _render_literal(value)
        case Unary(op, operand):
            level = _PRECEDENCE["neg" if op == "-" else "not"]
            return ("-" if op == "-" else "not ") + _wrap(operand, level, right=True)
        case Binary(op, left, right):
            level = _PRECEDENCE[op]
            return f"{_wrap(left, level, right=False)} {op} {_wrap(right, level, right=True)}"
        case In(operand, values):
            items = ", ".join(_render_literal(value.value) for value in values)
            return f"{_wrap(operand, _PRECEDENCE['in'], right=False)} in ({items})"
    return f"{expr.fn}({', '.join(render(arg) for arg in expr.args)})"


def _render_literal(value: LiteralValue) -> str:
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _wrap(expr: Expr, level: int, *, right: bool) -> str:
    text = render(expr)
    if isinstance(expr, Binary | In):
        inner = _PRECEDENCE["in" if isinstance(expr, In) else expr.op]
    elif isinstance(expr, Unary):
        inner = _PRECEDENCE["neg" if expr.op == "-" else "not"]
    elif isinstance(expr, Literal) and _is_number(expr.value) and cast(float, expr.value) < 0:
        inner = _PRECEDENCE["neg"]
    else:
        return text
    comparison = level == _PRECEDENCE["in"]
    needs = inner < level or (inner == level and (right or comparison))
    return f"({text})" if needs else text
