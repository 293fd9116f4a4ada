"""The expressions of job specs: SQL, parsed by sqlglot, typed, evaluated with pyarrow.

Nothing here hands user text to Python (no eval, exec or literal_eval): sqlglot's syntax tree
is translated node by node into frozen nodes of a whitelist, and only the fixed functions in
``FUNCTIONS`` can be called. Evaluation follows SQL: an operation on null is null, ``and`` and
``or`` are three-valued, ``case`` and ``if()`` take a null condition as false; where engines
differ, ``x / y`` is a float (DuckDB's rule) and ``x / 0`` and ``x % 0`` are null.

``evaluate`` is imported on first use: parsing and typing (all that checking a spec needs)
load neither pyarrow nor numpy.
"""

import importlib
from typing import TYPE_CHECKING, Any

from tuskflow.etl.expressions._functions import FUNCTIONS, Function
from tuskflow.etl.expressions._nodes import (
    Binary,
    Call,
    Column,
    Expr,
    In,
    Interval,
    Literal,
    LiteralValue,
    Unary,
    Value,
)
from tuskflow.etl.expressions._parse import (
    AGGREGATES,
    AggregateCall,
    columns,
    parse,
    parse_aggregate,
)
from tuskflow.etl.expressions._render import render
from tuskflow.etl.expressions._types import infer_type

if TYPE_CHECKING:
    from tuskflow.etl.expressions._evaluate import evaluate

__all__ = [
    "AGGREGATES",
    "FUNCTIONS",
    "AggregateCall",
    "Binary",
    "Call",
    "Column",
    "Expr",
    "Function",
    "In",
    "Interval",
    "Literal",
    "LiteralValue",
    "Unary",
    "Value",
    "columns",
    "evaluate",
    "infer_type",
    "parse",
    "parse_aggregate",
    "render",
]


def __getattr__(name: str) -> Any:
    """``evaluate``, imported with pyarrow the first time it is asked for."""
    if name != "evaluate":
        raise AttributeError(f"module 'tuskflow.etl.expressions' has no attribute {name!r}")
    evaluate = importlib.import_module("tuskflow.etl.expressions._evaluate").evaluate
    globals()["evaluate"] = evaluate
    return evaluate
