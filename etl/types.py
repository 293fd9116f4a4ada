"""The column types a job spec may name (their pyarrow types are in ``etl.arrow_types``, so
that what checks a spec does not load pyarrow)."""

from typing import Literal

TypeName = Literal["string", "int", "float", "bool", "date", "timestamp"]

NUMERIC: frozenset[str] = frozenset({"int", "float"})
