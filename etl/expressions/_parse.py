"""SQL text to expression trees: sqlglot parses, and only a whitelist of its nodes translates.

sqlglot (DuckDB's dialect, with backquoted names besides double-quoted ones) reads the text
into its syntax tree; each node type tuskflow knows becomes one of the frozen nodes of
``_nodes``, and any other (a subquery, a qualified or subscripted name, a window, a function
not in ``FUNCTIONS``) is refused with its position in the text. Nothing is ever evaluated by
Python: the tree is data. Some SQL forms become simpler trees: ``between`` two comparisons,
``case`` nested ``if()`` calls, ``is null`` ``is_null()``, ``||`` ``concat()``, and
``date '...'`` a date literal.
"""

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import sqlglot
import sqlglot.expressions as sx
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ParseError, TokenError

from tuskflow.etl.errors import ExpressionError
from tuskflow.etl.expressions._functions import FUNCTIONS, Function
from tuskflow.etl.expressions._nodes import (
    INTERVAL_UNITS,
    Binary,
    Call,
    Column,
    Expr,
    In,
    Interval,
    Literal,
    Unary,
    _is_number,
)
from tuskflow.etl.types import TypeName

_INT64 = (-(1 << 63), (1 << 63) - 1)
_COMPARISONS: dict[type[sx.Expression], str] = {
    sx.EQ: "==",
    sx.NEQ: "!=",
    sx.LT: "<",
    sx.LTE: "<=",
    sx.GT: ">",
    sx.GTE: ">=",
}
_OPERATORS: dict[type[sx.Expression], str] = {
    **_COMPARISONS,
    sx.Add: "+",
    sx.Sub: "-",
    sx.Mul: "*",
    sx.Div: "/",
    sx.Mod: "%",
    sx.And: "and",
    sx.Or: "or",
}
# SQL type names (sqlglot's) to the spec's six.
_TYPES: dict[str, TypeName] = {
    **dict.fromkeys(("TINYINT", "SMALLINT", "INT", "BIGINT", "UTINYINT", "USMALLINT"), "int"),
    **dict.fromkeys(("UINT", "UBIGINT", "HUGEINT"), "int"),
    **dict.fromkeys(("FLOAT", "DOUBLE", "DECIMAL"), "float"),
    **dict.fromkeys(("VARCHAR", "TEXT", "CHAR", "NVARCHAR", "NCHAR"), "string"),
    "BOOLEAN": "bool",
    "DATE": "date",
    **dict.fromkeys(("TIMESTAMP", "DATETIME", "TIMESTAMPNTZ"), "timestamp"),
}
_EXTRACTS = ("year", "quarter", "month", "day", "hour", "minute", "second")
AGGREGATES = ("count", "sum", "avg", "min", "max")


class _Dialect(DuckDB):
    """DuckDB's SQL, where a name may also be `backquoted`, as the older grammar wrote them."""

    class Tokenizer(DuckDB.Tokenizer):
        IDENTIFIERS = ['"', "`"]  # noqa: RUF012 - sqlglot reads it as a class attribute


@dataclass(frozen=True)
class AggregateCall:
    """``fn(arg)`` of an aggregate step; ``arg`` None is ``count(*)``."""

    fn: str  # count, count_distinct, sum, avg, min, max
    arg: Expr | None


def parse(text: str) -> Expr:
    """The expression tree of ``text``, or ExpressionError naming the position that fails."""
    return _Translator(text).row(_tree(text))


def parse_aggregate(text: str) -> AggregateCall:
    """The aggregate of ``text`` (``sum(price * qty)``, ``count(distinct id)``, ``count(*)``)."""
    tree = _tree(text)
    translator = _Translator(text)
    fn = _aggregate_name(tree)
    if fn is None:
        raise translator.error(tree, "an aggregation is one of count, sum, avg, min or max")
    return translator.aggregate(tree, fn)


def _tree(text: str) -> sx.Expression:
    if not text.strip():
        raise ExpressionError("empty expression")
    try:
        tree = sqlglot.parse_one(text, read=_Dialect)
    except ParseError as exc:
        raise _parse_error(text, exc) from None
    except TokenError:
        raise ExpressionError(f"unterminated string or quoted name in {text!r}") from None
    except RecursionError:
        raise ExpressionError(f"expression nests too deeply: {text[:40]!r}...") from None
    if tree is None:
        raise ExpressionError("empty expression")
    return cast(sx.Expression, tree)


def _parse_error(text: str, exc: ParseError) -> ExpressionError:
    first = exc.errors[0] if exc.errors else {}
    line, col = first.get("line") or 1, first.get("col") or 1
    pos = sum(len(each) + 1 for each in text.split("\n")[: line - 1]) + col - 1
    description = str(first.get("description") or exc).split(". Line")[0]
    missing = _MISSING.match(description)
    if missing is not None:
        kind = getattr(sx, missing.group(1), None)
        if isinstance(kind, type) and _is_function(kind):
            description = f"{kind.__name__.lower()}() lacks an argument"
        else:
            description = "incomplete expression"
    elif description.startswith("Invalid expression / Unexpected token"):
        description = "unexpected text"
    near = first.get("highlight")
    shown = f" near {near!r}" if near else ""
    pos -= len(near) - 1 if near else 0  # sqlglot points at the token's last character
    return ExpressionError(f"{description}{shown} at {pos} in {text!r}")


def _is_function(kind: type) -> bool:
    return issubclass(kind, sx.Func) and not issubclass(kind, sx.Binary | sx.Connector)


_MISSING = re.compile(r"Required keyword: '\w+' missing for <class '[\w.]+\.(\w+)'>")


def _aggregate_name(tree: sx.Expression) -> str | None:
    if isinstance(tree, sx.Count):
        return "count_distinct" if isinstance(tree.this, sx.Distinct) else "count"
    if isinstance(tree, sx.Anonymous) and tree.name.lower() == "mean":
        return "avg"  # the older grammar's name for avg
    for fn, kind in (("sum", sx.Sum), ("avg", sx.Avg), ("min", sx.Min), ("max", sx.Max)):
        if type(tree) is kind:
            return fn
    return None


class _Translator:
    """sqlglot's nodes to tuskflow's, refusing what the grammar does not hold."""

    def __init__(self, text: str) -> None:
        self.text = text

    def error(self, node: sx.Expression, what: str) -> ExpressionError:
        return ExpressionError(f"{what} at {_position(node)} in {self.text!r}")

    def aggregate(self, tree: sx.Expression, fn: str) -> AggregateCall:
        argument = tree.this
        if isinstance(argument, sx.Distinct):
            if len(argument.expressions) != 1:
                raise self.error(tree, "count(distinct ...) takes one expression")
            argument = argument.expressions[0]
        if isinstance(argument, sx.Star):
            if fn != "count":
                raise self.error(tree, f"{fn}(*) is not an aggregation; only count(*) is")
            return AggregateCall(fn, None)
        if argument is None or tree.expressions:
            raise self.error(tree, f"{fn}() takes one expression")
        return AggregateCall(fn, self.row(argument))

    def row(self, node: sx.Expression) -> Expr:
        """The row expression of a node: one value a row."""
        for kind, translate in _TRANSLATIONS:
            if isinstance(node, kind):
                return translate(self, node)
        aggregate = _aggregate_name(node)
        if aggregate is not None:
            what = f"{aggregate.removesuffix('_distinct')}() is an aggregation"
            raise self.error(node, f"{what}: it goes in an aggregate step's aggregations")
        if isinstance(node, sx.Func):
            return self.function(node)
        if isinstance(node, sx.Alias):
            what = f"unexpected {node.alias!r}: two expressions with no operator between them"
            raise self.error(node.args["alias"], what)
        raise self.error(node, f"{_described(node)} is not part of the expression grammar")

    def column(self, node: sx.Column) -> Expr:
        if node.table:
            raise self.error(node, f"qualified names ({node.sql()}) are not part of the grammar")
        if isinstance(node.this, sx.Star):
            raise self.error(node, "* is not a column; name the columns")
        return Column(node.name)

    def literal(self, node: sx.Literal) -> Expr:
        if node.is_string:
            return Literal(node.this)
        digits = node.this
        if any(mark in digits for mark in ".eE"):
            return Literal(float(digits))
        return self.in_range(int(digits), node)

    def in_range(self, value: int, node: sx.Expression) -> Literal:
        """The int as a literal, unless pyarrow's int64 cannot hold it."""
        if _INT64[0] <= value <= _INT64[1]:
            return Literal(value)
        raise ExpressionError(
            f"integer {value} at {_position(node)} in {self.text!r} is outside the 64-bit"
            f" integer range; write it as a float ({float(value)!r}) if you meant one"
        )

    def negated(self, node: sx.Neg) -> Expr:
        operand = node.this
        if isinstance(operand, sx.Literal) and not operand.is_string:
            digits = operand.this
            if not any(mark in digits for mark in ".eE"):
                # Checked with the sign: -9223372036854775808 is in range, its digits are not.
                return self.in_range(-int(digits), node)
        inner = self.row(operand)
        if isinstance(inner, Literal) and isinstance(inner.value, int) and _is_number(inner.value):
            return self.in_range(-inner.value, node)
        if isinstance(inner, Literal) and _is_number(inner.value):
            return Literal(-cast(float, inner.value))
        return Unary("-", inner)

    def binary(self, node: sx.Binary) -> Expr:
        op = _OPERATORS[cast(type[sx.Expression], type(node))]
        if op in _COMPARISONS.values() and isinstance(node.this, tuple(_COMPARISONS)):
            raise self.error(node.expression, "comparisons do not chain; join them with and")
        return Binary(op, self.row(node.this), self.row(node.expression))

    def in_list(self, node: sx.In) -> Expr:
        if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
            raise self.error(node, "in takes a list of literals, not a query")
        items = []
        for item in node.expressions:
            value = self.row(item)
            if not isinstance(value, Literal):
                raise self.error(item, f"in takes a list of literals, not {item.sql()}")
            items.append(value)
        return In(self.row(node.this), tuple(items))

    def between(self, node: sx.Between) -> Expr:
        operand = self.row(node.this)
        low = Binary(">=", operand, self.row(node.args["low"]))
        return Binary("and", low, Binary("<=", operand, self.row(node.args["high"])))

    def is_(self, node: sx.Is) -> Expr:
        if not isinstance(node.expression, sx.Null):
            raise self.error(node, "is takes null only (is null, is not null); compare with =")
        return Call("is_null", (self.row(node.this),))

    def like(self, node: sx.Like | sx.ILike) -> Expr:
        pattern = node.expression
        if not (isinstance(pattern, sx.Literal) and pattern.is_string):
            raise self.error(node, "like takes its pattern as a string literal")
        fn = "ilike" if isinstance(node, sx.ILike) else "like"
        call = Call(fn, (self.row(node.this), Literal(pattern.this)))
        return Unary("not", call) if node.args.get("negate") else call

    def case(self, node: sx.Case) -> Expr:
        subject = node.this
        result: Expr = self.row(node.args["default"]) if node.args.get("default") else Literal(None)
        for branch in reversed(node.args.get("ifs") or []):
            condition = self.row(branch.this)
            if subject is not None:
                condition = Binary("==", self.row(subject), condition)
            result = Call("if", (condition, self.row(branch.args["true"]), result))
        return result

    def if_(self, node: sx.If) -> Expr:
        otherwise = node.args.get("false")
        branches = (node.this, node.args["true"])
        rest = self.row(otherwise) if otherwise is not None else Literal(None)
        return Call("if", (*(self.row(each) for each in branches), rest))

    def cast(self, node: sx.Cast) -> Expr:
        target = _TYPES.get(node.to.this.name)
        if target is None:
            known = "varchar, bigint, double, boolean, date or timestamp"
            raise self.error(node, f"cannot cast to {node.to.sql()}; cast to {known}")
        operand = node.this
        if (
            isinstance(operand, sx.Literal)
            and operand.is_string
            and target in ("date", "timestamp")
        ):
            return self.temporal_literal(operand.this, target, node)
        fn = "try_cast" if isinstance(node, sx.TryCast) else "cast"
        return Call(fn, (self.row(operand), Literal(target)))

    def temporal_literal(self, text: str, target: TypeName, node: sx.Expression) -> Literal:
        """``date '1998-12-01'`` or ``timestamp '2024-01-02 03:04:05'``, checked now."""
        try:
            if target == "date":
                return Literal(dt.date.fromisoformat(text.strip()))
            return Literal(dt.datetime.fromisoformat(text.strip()).replace(tzinfo=None))
        except ValueError:
            raise self.error(node, f"{text!r} is not a {target}") from None

    def interval(self, node: sx.Interval) -> Expr:
        amount, unit = node.this, node.args.get("unit")
        name = (unit.name if unit is not None else "").lower().removesuffix("s")
        if name not in INTERVAL_UNITS or amount is None:
            raise self.error(node, f"an interval takes a unit: {', '.join(INTERVAL_UNITS)}")
        text = amount.this if isinstance(amount, sx.Literal) else None
        if text is None or not str(text).lstrip("-").isdigit():
            raise self.error(node, "an interval takes a whole number: interval '90' day")
        return Interval(int(text), name)

    def trim(self, node: sx.Trim) -> Expr:
        if node.expression is not None or node.args.get("collation") is not None:
            raise self.error(node, "trim takes one string and trims whitespace")
        position = str(node.args.get("position") or "").upper()
        fn = {"LEADING": "ltrim", "TRAILING": "rtrim"}.get(position, "trim")
        return Call(fn, (self.row(node.this),))

    def date_diff(self, node: sx.DateDiff) -> Expr:
        # sqlglot keeps date_diff(unit, a, b) as this=b, expression=a.
        unit = self.date_unit(node, _DIFF_UNITS)
        return Call("date_diff", (unit, self.row(node.expression), self.row(node.this)))

    def date_trunc(self, node: sx.TimestampTrunc | sx.DateTrunc) -> Expr:
        return Call("date_trunc", (self.date_unit(node, _TRUNC_UNITS), self.row(node.this)))

    def date_unit(self, node: sx.Expression, known: tuple[str, ...]) -> Literal:
        unit = node.args.get("unit")
        name = (unit.name if unit is not None else "").lower().removesuffix("s")
        if name not in known:
            what = f"{node.key.lower()} takes a unit: {', '.join(map(repr, known))}"
            raise self.error(node, what)
        return Literal(name)

    def extract(self, node: sx.Extract) -> Expr:
        part = node.this.name.lower()
        if part not in _EXTRACTS:
            raise self.error(node, f"extract takes {', '.join(_EXTRACTS)}, not {part}")
        return Call(part, (self.row(node.expression),))

    def function(self, node: sx.Func) -> Expr:
        fn = (node.name if isinstance(node, sx.Anonymous) else node.key).lower()
        fn = _RENAMED.get(fn, fn)
        function = FUNCTIONS.get(fn)
        if function is None or fn in _NOT_CALLABLE:
            written = node.name if isinstance(node, sx.Anonymous) else node.sql_name()
            known = ", ".join(sorted(set(FUNCTIONS) - _NOT_CALLABLE))
            what = f"unknown function {written.lower()!r}; known: {known}"
            raise self.error(cast(sx.Expression, node), what)
        args = tuple(self.row(each) for each in _arguments(node))
        high = function.max_args
        if len(args) < function.min_args or (high is not None and len(args) > high):
            what = f"{fn}() takes {_arity(function)}, not {len(args)}"
            raise self.error(cast(sx.Expression, node), what)
        return Call(fn, args)


# Calls the translator makes from SQL forms, which text cannot call by name.
_NOT_CALLABLE = frozenset({"like", "ilike", "cast", "try_cast"})
_DIFF_UNITS = ("year", "quarter", "month", "day", "hour", "minute", "second")
_TRUNC_UNITS = ("year", "quarter", "month", "week", "day", "hour", "minute", "second")
_RENAMED = {"substr": "substring", "ceiling": "ceil", "dpipe": "concat", "dateadd": "date_add"}

_TRANSLATIONS: tuple[tuple[type[sx.Expression], Callable[[_Translator, Any], Expr]], ...] = (
    (sx.Column, _Translator.column),
    (sx.Literal, _Translator.literal),
    (sx.Boolean, lambda self, node: Literal(bool(node.this))),
    (sx.Null, lambda self, node: Literal(None)),
    (sx.Paren, lambda self, node: self.row(node.this)),
    (sx.Neg, _Translator.negated),
    (sx.Not, lambda self, node: Unary("not", self.row(node.this))),
    (sx.DPipe, lambda self, node: Call("concat", (self.row(node.this), self.row(node.expression)))),
    (sx.Between, _Translator.between),
    (sx.In, _Translator.in_list),
    (sx.Is, _Translator.is_),
    (sx.Like, _Translator.like),
    (sx.ILike, _Translator.like),
    (sx.Case, _Translator.case),
    (sx.If, _Translator.if_),
    (sx.Cast, _Translator.cast),  # TryCast is a Cast
    (sx.Interval, _Translator.interval),
    (sx.Extract, _Translator.extract),
    (sx.Trim, _Translator.trim),
    (sx.DateDiff, _Translator.date_diff),
    (sx.TimestampTrunc, _Translator.date_trunc),
    (sx.DateTrunc, _Translator.date_trunc),
    *((kind, _Translator.binary) for kind in _OPERATORS),
)


def _arguments(node: sx.Func) -> list[sx.Expression]:
    """A function's arguments in the order SQL writes them."""
    if isinstance(node, sx.Anonymous):
        return list(node.expressions)
    found: list[sx.Expression] = []
    for key in node.arg_types:
        value = node.args.get(key)
        values = value if isinstance(value, list) else [value]
        found += [each for each in values if isinstance(each, sx.Expression)]
    return found


def _position(node: sx.Expression) -> int:
    """Where the node starts in the text: the first position sqlglot kept beneath it."""
    starts = [each.meta["start"] for each in node.walk() if "start" in (each.meta or {})]
    return min(starts, default=0)


def _described(node: sx.Expression) -> str:
    names = {
        sx.Select: "a query",
        sx.Subquery: "a subquery",
        sx.Bracket: "a subscript",
        sx.Dot: "attribute access",
        sx.Block: "more than one expression",
        sx.Window: "a window",
        sx.Star: "*",
    }
    for kind, name in names.items():
        if isinstance(node, kind):
            return name
    return repr(node.sql())


def _arity(function: Function) -> str:
    low, high = function.min_args, function.max_args
    if high is None:
        return f"{low} or more arguments"
    if high == low:
        return f"{low} argument" + ("s" if low != 1 else "")
    return f"{low} or {high} arguments"


def columns(expr: Expr) -> frozenset[str]:
    """The names of the columns an expression reads."""
    match expr:
        case Column(name):
            return frozenset({name})
        case Literal() | Interval():
            return frozenset()
        case Unary(_, operand):
            return columns(operand)
        case Binary(_, left, right):
            return columns(left) | columns(right)
        case In(operand, _):
            return columns(operand)
    return frozenset().union(*(columns(arg) for arg in expr.args))
