"""Values into the spec's column types, finding each value that does not convert.

A whole column is cast at once; only when that fails are the failing values looked for, by
halving the ranges that fail, so a column with a few bad values costs a few extra casts.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from tuskflow.etl.arrow_types import ARROW_TYPES
from tuskflow.etl.types import TypeName

_ARTICLES: dict[str, str] = {
    "string": "a string",
    "int": "an int",
    "float": "a float",
    "bool": "a bool",
    "date": "a date",
    "timestamp": "a timestamp",
}
_SHOWN_CHARS = 60

# What pyarrow's CSV reader takes as true and false (its defaults), matched exactly.
TRUE_VALUES = ("1", "True", "TRUE", "true")
FALSE_VALUES = ("0", "False", "FALSE", "false")

# Shapes a superset of what a cast from text accepts: a value outside its shape cannot convert,
# so whole columns of wrong values are found at once instead of one cast each.
_SHAPES: dict[str, str] = {
    "int": r"^-?[0-9]+$",
    "float": r"(?i)^[-+]?(([0-9]+\.?[0-9]*|\.[0-9]+)(e[-+]?[0-9]+)?|inf|infinity|nan)$",
    "date": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    "timestamp": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ].*)?$",
}
# Inference tries these in turn; the first that takes every value some type takes wins.
_INFERRED: tuple[TypeName, ...] = ("int", "float", "bool", "date", "timestamp")
TOLERATED_SHARE = 0.01
_SAMPLED = 50_000

# pyarrow's CSV reader trims spaces and tabs around numbers and dates, not around timestamps.
_TRIMMED = frozenset({"int", "float", "date"})

Positions = npt.NDArray[np.int64]
Convert = Callable[[pa.Array], pa.Array]


@dataclass(frozen=True)
class Converted:
    """A converted column (null where a value failed) and why each failing position failed."""

    array: pa.Array
    failures: dict[int, str]


def cast_each(
    values: pa.Array, target: pa.DataType, *, safe: bool = True
) -> tuple[pa.Array, Positions]:
    """``values`` cast to ``target`` (null where a value does not cast) and those positions."""
    return convert_each(values, target, lambda part: pc.cast(part, target, safe=safe))


def convert_each(
    values: pa.Array, target: pa.DataType, convert: Convert
) -> tuple[pa.Array, Positions]:
    """``values`` converted (null where a value does not convert) and those positions."""
    if len(values) == 0:
        return convert(values), np.empty(0, np.int64)
    pieces: list[pa.Array] = []
    failed: list[int] = []
    ranges = [(0, len(values))]
    while ranges:
        low, high = ranges.pop()
        try:
            pieces.append(convert(values.slice(low, high - low)))
        except pa.ArrowInvalid:
            if high - low == 1:
                failed.append(low)
                pieces.append(pa.nulls(1, target))
            else:
                middle = (low + high) // 2
                ranges += [(middle, high), (low, middle)]
    return pa.concat_arrays(pieces), np.array(failed, np.int64)


def reason(column: str, value: object, kind: str) -> str:
    """Why a value was rejected: ``quantity: 'abc' is not an int``."""
    return f"{column}: {shown(value)} is not {_ARTICLES.get(kind, kind)}"


def shown(value: object) -> str:
    """A value as a reason shows it: its repr, cut short."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 4] + "...'"


def positions(mask: pa.Array) -> Positions:
    """The positions where a boolean array is true (null counts as false)."""
    return np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))


def csv_column(column: str, text: pa.Array, kind: TypeName) -> Converted:
    """CSV fields (large_string, null where empty) converted as pyarrow's CSV reader would."""
    converted, misfits = _convert(text, kind)
    failures = {int(at): reason(column, text[at].as_py(), kind) for at in misfits}
    return Converted(converted, failures)


def text_kind(text: pa.Array) -> TypeName:
    """The most specific type that takes every value of a text column which some type takes.

    Values no type takes (``lots`` among numbers) are tolerated up to TOLERATED_SHARE of the
    values: they will be rejected, not turn the column into text.
    """
    present = text.drop_null().slice(0, _SAMPLED)
    tolerated = len(present) * TOLERATED_SHARE
    for kind in _INFERRED:
        if len(present) == 0 or _misshapen(present, kind) > tolerated:
            continue  # cheaper than a cast, which reads every value to fail
        failed = _convert(present, kind)[1]
        if len(failed) > tolerated:
            continue
        bad = present.take(pa.array(failed))
        if all(len(_convert(bad, other)[1]) == len(bad) for other in _INFERRED if other != kind):
            return kind
    return "string"


def _misshapen(text: pa.Array, kind: TypeName) -> int:
    """How many values cannot be of this type by their looks alone."""
    if kind == "bool":
        shaped = pc.is_in(text, value_set=pa.array(TRUE_VALUES + FALSE_VALUES, pa.large_string()))
    else:
        trimmed = pc.utf8_trim(text, " \t") if kind in _TRIMMED else text
        shaped = pc.match_substring_regex(trimmed, _SHAPES[kind])
    return len(text) - int(pc.sum(shaped).as_py() or 0)


def _convert(text: pa.Array, kind: TypeName) -> tuple[pa.Array, Positions]:
    if kind == "string":
        return text, np.empty(0, np.int64)
    return _CONVERTERS.get(kind, _parse)(text, kind)


def _bools(text: pa.Array, kind: TypeName) -> tuple[pa.Array, Positions]:
    true = pc.is_in(text, value_set=pa.array(TRUE_VALUES, pa.large_string()))
    false = pc.is_in(text, value_set=pa.array(FALSE_VALUES, pa.large_string()))
    known = pc.or_(true, false)
    converted = pc.if_else(known, true, pa.scalar(None, pa.bool_()))
    return converted, positions(pc.and_(pc.is_valid(text), pc.invert(known)))


def _parse(text: pa.Array, kind: TypeName) -> tuple[pa.Array, Positions]:
    target = ARROW_TYPES[kind]
    convert = _CASTS.get(kind) or (lambda part: pc.cast(part, target))
    try:
        return convert(text), np.empty(0, np.int64)
    except pa.ArrowInvalid:
        pass  # spaces around values, or values that do not convert
    trimmed = pc.utf8_trim(text, " \t") if kind in _TRIMMED else text
    shaped = pc.match_substring_regex(trimmed, _SHAPES[kind])
    candidates = pc.if_else(shaped, trimmed, pa.scalar(None, pa.large_string()))
    converted, failed = convert_each(candidates, target, convert)
    misfits = positions(pc.and_(pc.is_valid(trimmed), pc.invert(shaped)))
    return converted, np.union1d(failed, misfits)


def has_hex_int(text: pa.Array) -> bool:
    """Whether a text column holds a value like ``0x1F``, which arrow's int cast takes as 31."""
    return bool(pc.any(pc.match_substring_regex(text, _HEX_INT)).as_py())


def strict_cast(values: pa.Array | pa.ChunkedArray, kind: TypeName) -> pa.Array:
    """``values`` cast to ``kind`` as ``pc.cast`` does, but a text like ``0x1F`` is no int.

    Raises ArrowInvalid for any value that does not convert; arrow takes hex as an int, which
    neither SQL nor the CSV readers a data team knows do, so tuskflow refuses it too.
    """
    text = pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
    if kind == "int" and text and has_hex_int(values):
        raise pa.ArrowInvalid("hexadecimal integer")
    return pc.cast(values, ARROW_TYPES[kind])


def _ints(text: pa.Array) -> pa.Array:
    return strict_cast(text, "int")


def _timestamps(text: pa.Array) -> pa.Array:
    try:
        return pc.cast(text, ARROW_TYPES["timestamp"])
    except pa.ArrowInvalid:
        # A timestamp with a zone offset does not parse as a naive one; it is kept as UTC.
        return pc.cast(pc.cast(text, _UTC), ARROW_TYPES["timestamp"])


_HEX_INT = r"^[ \t]*[-+]?0[xX]"
_UTC = pa.timestamp("us", tz="UTC")
_CASTS: dict[str, Convert] = {"int": _ints, "timestamp": _timestamps}
_CONVERTERS: dict[str, Callable[[pa.Array, TypeName], tuple[pa.Array, Positions]]] = {
    "bool": _bools,
}
