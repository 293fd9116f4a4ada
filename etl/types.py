"""The column types a job spec may name, and their pyarrow types."""

from typing import Literal

import pyarrow as pa

TypeName = Literal["string", "int", "float", "bool", "date", "timestamp"]

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.large_string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}

NUMERIC: frozenset[str] = frozenset({"int", "float"})


def type_name_of(arrow_type: pa.DataType) -> str:
    """The spec type name closest to an arrow type; every column maps to one of the six."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_integer(arrow_type):
        return "int"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "float"
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_dictionary(arrow_type):
        return type_name_of(arrow_type.value_type)
    if pa.types.is_null(arrow_type):
        return "string"
    raise ValueError(f"column type {arrow_type} has no spec type; cast it to one of {list(ARROW_TYPES)}")
