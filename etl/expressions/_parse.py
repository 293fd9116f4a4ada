"""Text to expression trees, by a tokenizer and a recursive-descent parser; the columns read."""

import re
from dataclasses import dataclass
from typing import cast

from tuskflow.etl.errors import ExpressionError
from tuskflow.etl.expressions._functions import FUNCTIONS, Function
from tuskflow.etl.expressions._nodes import (
    _COMPARISONS,
    _KEYWORDS,
    Binary,
    Call,
    Column,
    Expr,
    In,
    Literal,
    LiteralValue,
    Unary,
    _is_number,
)

_COMPARISON_TOKENS = (*_COMPARISONS, "=", "<>")
_CONSTANTS: dict[str, LiteralValue] = {"true": True, "false": False, "null": None}
_ALIASES = {"=": "==", "<>": "!="}
_INT64 = (-(1 << 63), (1 << 63) - 1)
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
        start = self.token.pos
        negative = self.op("-") is not None
        token = self.token
        constant = token.kind == "name" and token.text.lower() in _CONSTANTS
        if token.kind != "number" and (negative or not (constant or token.kind == "string")):
            raise self.unexpected("in takes a list of literals")
        literal = cast(Literal, self.primary())
        return self.in_range(_negated(literal) if negative else literal, start)

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
        start = self.token
        expr = self.signed()
        # Checked once the signs are applied: -9223372036854775808 is in range, its digits not.
        if isinstance(expr, Literal):
            return self.in_range(expr, start.pos)
        return expr

    def signed(self) -> Expr:
        if self.op("-"):
            operand = self.signed()
            if isinstance(operand, Literal) and _is_number(operand.value):
                return _negated(operand)
            return Unary("-", operand)
        return self.primary()

    def in_range(self, literal: Literal, pos: int) -> Literal:
        """The literal, unless it is an int that pyarrow's int64 cannot hold."""
        value = literal.value
        if not isinstance(value, int) or isinstance(value, bool):
            return literal
        if _INT64[0] <= value <= _INT64[1]:
            return literal
        raise ExpressionError(
            f"integer {value} at {pos} in {self.text!r} is outside the 64-bit integer range; "
            f"write it as a float ({float(value)!r}) if you meant one"
        )

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
