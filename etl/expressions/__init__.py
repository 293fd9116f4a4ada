"""The safe expression grammar of job specs: parsed by hand, typed, evaluated with pyarrow.

Nothing here hands user text to Python (no eval, exec or literal_eval): a tokenizer and a
recursive-descent parser build frozen nodes, and only the fixed functions in ``FUNCTIONS`` can
be called. Evaluation follows SQL null semantics: an operation on null is null, ``and`` and
``or`` are Kleene, ``x / 0`` and ``x % 0`` are null, ``if()`` takes a null condition as false.
"""

from tuskflow.etl.expressions._evaluate import evaluate
from tuskflow.etl.expressions._functions import FUNCTIONS, Function
from tuskflow.etl.expressions._nodes import (
    Binary,
    Call,
    Column,
    Expr,
    In,
    Literal,
    LiteralValue,
    Unary,
    Value,
)
from tuskflow.etl.expressions._parse import columns, parse
from tuskflow.etl.expressions._render import render
from tuskflow.etl.expressions._types import infer_type

__all__ = [
    "FUNCTIONS",
    "Binary",
    "Call",
    "Column",
    "Expr",
    "Function",
    "In",
    "Literal",
    "LiteralValue",
    "Unary",
    "Value",
    "columns",
    "evaluate",
    "infer_type",
    "parse",
    "render",
]
