"""The safe expression grammar of job specs: parsed by hand, typed, evaluated with pyarrow.

Nothing here hands user text to Python (no eval, exec or literal_eval): a tokenizer and a
recursive-descent parser build frozen nodes, and only the fixed functions in ``FUNCTIONS`` can
be called. Evaluation follows SQL null semantics: an operation on null is null, ``and`` and
``or`` are Kleene, ``x / 0`` and ``x % 0`` are null, ``if()`` takes a null condition as false.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc

from etl.errors import ExpressionError
from etl.types import ARROW_TYPES, NUMERIC, TypeName, type_name_of

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
_COMPARISON_TOKENS = (*_COMPARISONS, "=", "<>")
_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})
_CONSTANTS: dict[str, LiteralValue] = {"true": True, "false": False, "null": None}
_ALIASES = {"=": "==", "<>": "!="}
_BARE_NAME = re.compile(r"[^\W\d]\w*")
_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[^\W\d]\w*)"
    r"|(?P<quoted>`(?:[^`]|``)+`)"
    r"|(?P<string>'(?:[^']|'')*')"
    r"|(?P<op>==|!=|<>|<=|>=|[-+*/%<>=(),])"
)
_HINTS = {
    ".": "attribute access is not part of the grammar",
    "[": "subscripts are not part of the grammar",
    ";": "one expression only",
    '"': "strings are single-quoted; backquote a column name",
    "`": "unterminated backquoted name",
    "'": "unterminated string",
    ":": "lambdas and slices are not part of the grammar",
}


# --- tokens ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # space, number, name, quoted, string, op, end
    text: str
    pos: int


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            char = text[pos]
            raise _error(text, pos, f"unexpected {char!r}", _HINTS.get(char, ""))
        kind = cast(str, match.lastgroup)
        if kind != "space":
            tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _error(text: str, pos: int, what: str, hint: str = "") -> ExpressionError:
    return ExpressionError(f"{what} at {pos} in {text!r}" + (f" ({hint})" if hint else ""))


# --- parser ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    """A function the grammar knows: its arity and how it types and computes."""

    min_args: int
    max_args: int | None  # None: any number from min_args
    typer: Callable[[Call, list[TypeName | None]], TypeName | None]
    kernel: Callable[[Call, list[Value]], Value]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.token
        self.index += 1
        return token

    def keyword(self, *words: str) -> str | None:
        if self.token.kind == "name" and self.token.text.lower() in words:
            return self.advance().text.lower()
        return None

    def op(self, *ops: str) -> str | None:
        if self.token.kind == "op" and self.token.text in ops:
            text = self.advance().text
            return _ALIASES.get(text, text)
        return None

    def expect(self, op: str) -> None:
        if self.op(op) is None:
            raise self.unexpected()

    def unexpected(self, hint: str = "") -> ExpressionError:
        token = self.token
        what = f"unexpected {token.text!r}" if token.text else "unexpected end of expression"
        return _error(self.text, token.pos, what, hint)

    def parse(self) -> Expr:
        if self.token.kind == "end":
            raise ExpressionError("empty expression")
        expr = self.disjunction()
        if self.token.kind != "end":
            raise self.unexpected()
        return expr

    def disjunction(self) -> Expr:
        expr = self.conjunction()
        while self.keyword("or"):
            expr = Binary("or", expr, self.conjunction())
        return expr

    def conjunction(self) -> Expr:
        expr = self.negation()
        while self.keyword("and"):
            expr = Binary("and", expr, self.negation())
        return expr

    def negation(self) -> Expr:
        if self.keyword("not"):
            return Unary("not", self.negation())
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.additive()
        op = self.op(*_COMPARISON_TOKENS)
        if op is not None:
            expr: Expr = Binary(op, left, self.additive())
        elif self.keyword("in"):
            expr = In(left, self.literal_list())
        elif self.keyword("not"):
            if not self.keyword("in"):
                raise self.unexpected()
            expr = Unary("not", In(left, self.literal_list()))
        else:
            return left
        if self.token.kind == "op" and self.token.text in _COMPARISON_TOKENS:
            raise self.unexpected("comparisons do not chain; join them with and")
        return expr

    def literal_list(self) -> tuple[Literal, ...]:
        self.expect("(")
        values = [self.list_literal()]
        while self.op(","):
            values.append(self.list_literal())
        self.expect(")")
        return tuple(values)

    def list_literal(self) -> Literal:
        negative = self.op("-") is not None
        token = self.token
        constant = token.kind == "name" and token.text.lower() in _CONSTANTS
        if token.kind != "number" and (negative or not (constant or token.kind == "string")):
            raise self.unexpected("in takes a list of literals")
        literal = cast(Literal, self.primary())
        return _negated(literal) if negative else literal

    def additive(self) -> Expr:
        expr = self.multiplicative()
        while op := self.op("+", "-"):
            expr = Binary(op, expr, self.multiplicative())
        return expr

    def multiplicative(self) -> Expr:
        expr = self.unary()
        while op := self.op("*", "/", "%"):
            expr = Binary(op, expr, self.unary())
        return expr

    def unary(self) -> Expr:
        if self.op("-"):
            operand = self.unary()
            if isinstance(operand, Literal) and _is_number(operand.value):
                return _negated(operand)
            return Unary("-", operand)
        return self.primary()

    def primary(self) -> Expr:
        token = self.token
        if token.kind == "number":
            self.advance()
            number = float(token.text) if re.search(r"[.eE]", token.text) else int(token.text)
            return Literal(number)
        if token.kind == "string":
            self.advance()
            return Literal(token.text[1:-1].replace("''", "'"))
        if token.kind == "quoted":
            self.advance()
            return Column(token.text[1:-1].replace("``", "`"))
        if token.kind == "name":
            return self.name()
        if self.op("("):
            expr = self.disjunction()
            self.expect(")")
            return expr
        raise self.unexpected()

    def name(self) -> Expr:
        token = self.advance()
        word = token.text.lower()
        if word in _CONSTANTS:
            return Literal(_CONSTANTS[word])
        if word in _KEYWORDS:
            self.index -= 1
            raise self.unexpected()
        if self.token.kind == "op" and self.token.text == "(":
            return self.call(token)
        return Column(token.text)

    def call(self, name: _Token) -> Call:
        fn = name.text.lower()
        function = FUNCTIONS.get(fn)
        if function is None:
            known = ", ".join(sorted(FUNCTIONS))
            what = f"unknown function {name.text!r}"
            raise ExpressionError(f"{what} at {name.pos} in {self.text!r}; known: {known}")
        self.expect("(")
        args: list[Expr] = []
        if not self.op(")"):
            args.append(self.disjunction())
            while self.op(","):
                args.append(self.disjunction())
            self.expect(")")
        high = function.max_args
        if len(args) < function.min_args or (high is not None and len(args) > high):
            wanted = _arity(function)
            what = f"{fn}() takes {wanted}, not {len(args)}"
            raise _error(self.text, name.pos, what)
        return Call(fn, tuple(args))


def _arity(function: Function) -> str:
    low, high = function.min_args, function.max_args
    if high is None:
        return f"{low} or more arguments"
    if high == low:
        return f"{low} argument" + ("s" if low != 1 else "")
    return f"{low} or {high} arguments"


def _is_number(value: LiteralValue) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _negated(literal: Literal) -> Literal:
    return Literal(-cast(float, literal.value))


def parse(text: str) -> Expr:
    """The expression tree of ``text``, or ExpressionError naming the position that fails."""
    try:
        return _Parser(text).parse()
    except RecursionError:
        raise ExpressionError(f"expression nests too deeply: {text[:40]!r}...") from None


def columns(expr: Expr) -> frozenset[str]:
    """The names of the columns an expression reads."""
    match expr:
        case Column(name):
            return frozenset({name})
        case Literal():
            return frozenset()
        case Unary(_, operand):
            return columns(operand)
        case Binary(_, left, right):
            return columns(left) | columns(right)
        case In(operand, _):
            return columns(operand)
    return frozenset().union(*(columns(arg) for arg in expr.args))


# --- rendering -------------------------------------------------------------------------------

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


# --- types -----------------------------------------------------------------------------------

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
        case Binary():
            return _binary_type(expr, _type(expr.left, schema), _type(expr.right, schema))
        case In(operand, items):
            found = _type(operand, schema)
            for item in items:
                _comparable(expr, found, _literal_type(item.value))
            return "bool"
    return FUNCTIONS[expr.fn].typer(expr, [_type(arg, schema) for arg in expr.args])


def _literal_type(value: LiteralValue) -> TypeName | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    return "int" if isinstance(value, int) else "float"


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
    hint = "use to_date('YYYY-MM-DD')" if {left, right} == {"date", "string"} else ""
    raise _type_error(expr, f"cannot compare {left} and {right}", hint)


def _unify(left: TypeName | None, right: TypeName | None) -> TypeName | None:
    if left is None or left == right:
        return right
    if right is None:
        return left
    if {left, right} <= NUMERIC:
        return "float"
    raise ValueError(f"{left} and {right} have no common type")


def _name(found: TypeName | None) -> str:
    return found or "null"


def _type_error(expr: Expr, message: str, hint: str = "") -> ExpressionError:
    return ExpressionError(f"{message} in {render(expr)!r}" + (f"; {hint}" if hint else ""))


def _needs(
    call: Call, found: list[TypeName | None], allowed: frozenset[str], what: str
) -> TypeName | None:
    for arg in found:
        if arg is not None and arg not in allowed:
            raise _type_error(call, f"{call.fn}() needs {what}, not {arg}")
    return found[0]


def _common(call: Call, found: list[TypeName | None]) -> TypeName | None:
    result: TypeName | None = None
    for arg in found:
        try:
            result = _unify(result, arg)
        except ValueError:
            mix = ", ".join(_name(each) for each in found)
            raise _type_error(call, f"{call.fn}() needs arguments of one type, not {mix}") from None
    return result


def _string_type(result: TypeName) -> Callable[[Call, list[TypeName | None]], TypeName | None]:
    def typer(call: Call, found: list[TypeName | None]) -> TypeName | None:
        _needs(call, found, frozenset({"string"}), "a string")
        return result

    return typer


def _numeric_type(call: Call, found: list[TypeName | None]) -> TypeName | None:
    if call.fn == "round" and len(call.args) == 2:
        digits = call.args[1]
        if not (isinstance(digits, Literal) and type(digits.value) is int):
            raise _type_error(call, "round() takes its digits as an int literal")
    return _needs(call, found[:1], NUMERIC, "a number")


def _date_part_type(call: Call, found: list[TypeName | None]) -> TypeName | None:
    _needs(call, found, frozenset({"date", "timestamp"}), "a date or timestamp")
    return "int"


def _if_type(call: Call, found: list[TypeName | None]) -> TypeName | None:
    if found[0] not in (None, "bool"):
        raise _type_error(call, f"if() needs a bool condition, not {found[0]}")
    return _common(call, found[1:])


def _to_date_type(call: Call, found: list[TypeName | None]) -> TypeName | None:
    _needs(call, found, frozenset({"string", "date", "timestamp"}), "a string or timestamp")
    return "date"


def _fixed_type(result: TypeName) -> Callable[[Call, list[TypeName | None]], TypeName | None]:
    return lambda call, found: result


# --- evaluation ------------------------------------------------------------------------------


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
        case Literal(value):
            return _scalar(value)
        case Unary(op, operand):
            return _eval_unary(op, _eval(operand, table))
        case Binary(op, left, right):
            return _eval_binary(op, _eval(left, table), _eval(right, table))
        case In(operand, items):
            return _eval_in(_eval(operand, table), [item.value for item in items])
    return FUNCTIONS[expr.fn].kernel(expr, [_eval(arg, table) for arg in expr.args])


def _scalar(value: LiteralValue) -> Value:
    found = _literal_type(value)
    return pa.scalar(value, ARROW_TYPES[found] if found else pa.null())


def _is_null_type(value: Value) -> bool:
    return bool(pa.types.is_null(value.type))


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
    if op == "/":
        left, right = left.cast(pa.float64()), right.cast(pa.float64())
    left, right = _aligned([left, right])
    if op in ("/", "%"):
        # SQL engines differ on x / 0; a null keeps one bad row from failing its partition.
        right = pc.if_else(pc.equal(right, 0), pa.scalar(None, right.type), right)
    return _KERNELS[op](left, right)


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


def _aligned(values: list[Value]) -> list[Value]:
    """The values cast to one arrow type: nulls take it, ints widen to float, strings large."""
    types = [value.type for value in values if not pa.types.is_null(value.type)]
    if not types:
        return values
    if all(pa.types.is_integer(each) or pa.types.is_floating(each) for each in types):
        target = pa.float64() if any(map(pa.types.is_floating, types)) else pa.int64()
    elif all(pa.types.is_string(each) or pa.types.is_large_string(each) for each in types):
        target = pa.large_string()
    else:
        target = types[0]
    return [value if value.type == target else value.cast(target) for value in values]


def _strict(kernel: Callable[[Value], Value]) -> Callable[[Call, list[Value]], Value]:
    """A one-argument kernel that maps a null literal to null."""

    def apply(call: Call, args: list[Value]) -> Value:
        return pa.scalar(None) if _is_null_type(args[0]) else kernel(args[0])

    return apply


def _round(call: Call, args: list[Value]) -> Value:
    if _is_null_type(args[0]):
        return pa.scalar(None)
    digits = cast(Literal, call.args[1]).value if len(call.args) == 2 else 0
    if pa.types.is_integer(args[0].type) and cast(int, digits) >= 0:
        return args[0]
    return pc.round(args[0], ndigits=digits, round_mode="half_towards_infinity")


def _whole(kernel: Callable[[Value], Value]) -> Callable[[Value], Value]:
    return lambda value: value if pa.types.is_integer(value.type) else kernel(value)


def _coalesce(call: Call, args: list[Value]) -> Value:
    present = [arg for arg in args if not _is_null_type(arg)]
    return pc.coalesce(*_aligned(present)) if present else pa.scalar(None)


def _if(call: Call, args: list[Value]) -> Value:
    condition = pc.fill_null(args[0].cast(pa.bool_()), False)
    then, otherwise = _aligned(args[1:])
    if _is_null_type(then) and _is_null_type(otherwise):
        return pa.scalar(None)
    return pc.if_else(condition, then, otherwise)


def _concat(call: Call, args: list[Value]) -> Value:
    if any(_is_null_type(arg) for arg in args):
        return pa.scalar(None)
    texts = [arg.cast(pa.large_string()) for arg in args]
    return pc.binary_join_element_wise(*texts, pa.scalar("", pa.large_string()))


def _to_date(value: Value) -> Value:
    if pa.types.is_date(value.type):
        return value
    if pa.types.is_timestamp(value.type):
        return value.cast(pa.date32())
    # A string that is not a date becomes null rather than failing its partition.
    parsed = pc.strptime(value, format="%Y-%m-%d", unit="s", error_is_null=True)
    return parsed.cast(pa.date32())


FUNCTIONS: dict[str, Function] = {
    "lower": Function(1, 1, _string_type("string"), _strict(pc.utf8_lower)),
    "upper": Function(1, 1, _string_type("string"), _strict(pc.utf8_upper)),
    "trim": Function(1, 1, _string_type("string"), _strict(pc.utf8_trim_whitespace)),
    "length": Function(1, 1, _string_type("int"), _strict(pc.utf8_length)),
    "abs": Function(1, 1, _numeric_type, _strict(pc.abs_checked)),
    "round": Function(1, 2, _numeric_type, _round),
    "floor": Function(1, 1, _numeric_type, _strict(_whole(pc.floor))),
    "ceil": Function(1, 1, _numeric_type, _strict(_whole(pc.ceil))),
    "coalesce": Function(1, None, _common, _coalesce),
    "is_null": Function(1, 1, _fixed_type("bool"), lambda call, args: pc.is_null(args[0])),
    "if": Function(3, 3, _if_type, _if),
    "year": Function(1, 1, _date_part_type, _strict(pc.year)),
    "month": Function(1, 1, _date_part_type, _strict(pc.month)),
    "day": Function(1, 1, _date_part_type, _strict(pc.day)),
    "concat": Function(1, None, _fixed_type("string"), _concat),
    "to_date": Function(1, 1, _to_date_type, _strict(_to_date)),
}
