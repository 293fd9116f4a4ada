"""The pyarrow type of each spec type name, and the spec type of an arrow type."""

from collections.abc import Callable
from typing import cast

import pyarrow as pa

from tuskflow.etl.types import TypeName

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.large_string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}

_KINDS: tuple[tuple[str, Callable[[pa.DataType], bool]], ...] = (
    ("string", lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)),
    ("int", pa.types.is_integer),
    ("float", lambda t: pa.types.is_floating(t) or pa.types.is_decimal(t)),
    ("bool", pa.types.is_boolean),
    ("date", pa.types.is_date),
    ("timestamp", pa.types.is_timestamp),
    ("string", pa.types.is_null),
)


def type_name_of(arrow_type: pa.DataType) -> TypeName:
    """The spec type name closest to an arrow type; every column maps to one of the six."""
    if pa.types.is_dictionary(arrow_type):
        return type_name_of(arrow_type.value_type)
    for name, matches in _KINDS:
        if matches(arrow_type):
            return cast(TypeName, name)
    names = ", ".join(ARROW_TYPES)
    raise ValueError(f"column type {arrow_type} has no spec type; cast it to one of {names}")
