"""The pyarrow kernel of each function in ``_functions.FUNCTIONS``, and the arrow helpers the
operators share with them."""

from collections.abc import Callable
from typing import cast

import pyarrow as pa
import pyarrow.compute as pc

from tuskflow.etl.arrow_types import ARROW_TYPES
from tuskflow.etl.expressions._calendar import date_diff, date_trunc
from tuskflow.etl.expressions._nodes import Call, Literal, Value
from tuskflow.etl.sources._cast import convert_each, strict_cast
from tuskflow.etl.types import TypeName


def _is_null_type(value: Value) -> bool:
    return bool(pa.types.is_null(value.type))


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


def _like(call: Call, args: list[Value]) -> Value:
    if _is_null_type(args[0]):
        return pa.scalar(None)
    pattern = cast(str, cast(Literal, call.args[1]).value)
    return pc.match_like(args[0], pattern=pattern, ignore_case=call.fn == "ilike")


def _cast(call: Call, args: list[Value]) -> Value:
    """SQL's cast: a value that does not convert fails the expression; try_cast makes it null."""
    kind = cast(TypeName, cast(Literal, call.args[1]).value)
    value = args[0]
    if _is_null_type(value):
        return pa.scalar(None, ARROW_TYPES[kind])
    if isinstance(value, pa.Scalar):
        value = pa.array([value.as_py()], value.type)
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if kind == "int" and pa.types.is_floating(value.type):
        # SQL rounds a float cast to an int (PostgreSQL: half away from zero); arrow refuses it.
        value = pc.round(value, round_mode="half_towards_infinity")
    if call.fn == "cast":
        return strict_cast(value, kind)
    return convert_each(value, ARROW_TYPES[kind], lambda part: strict_cast(part, kind))[0]


def _substring(call: Call, args: list[Value]) -> Value:
    if _is_null_type(args[0]):
        return pa.scalar(None)
    start = cast(int, cast(Literal, call.args[1]).value) - 1  # SQL counts from 1
    if len(call.args) == 2:
        return pc.utf8_slice_codeunits(args[0], max(start, 0))
    length = cast(int, cast(Literal, call.args[2]).value)
    stop = max(start + length, 0)
    return pc.utf8_slice_codeunits(args[0], max(start, 0), stop)


def _replace(call: Call, args: list[Value]) -> Value:
    if _is_null_type(args[0]):
        return pa.scalar(None)
    old, new = (cast(str, cast(Literal, arg).value) for arg in call.args[1:])
    return pc.replace_substring(args[0], pattern=old, replacement=new)


KERNELS: dict[str, Callable[[Call, list[Value]], Value]] = {
    "lower": _strict(pc.utf8_lower),
    "upper": _strict(pc.utf8_upper),
    "trim": _strict(pc.utf8_trim_whitespace),
    "ltrim": _strict(pc.utf8_ltrim_whitespace),
    "rtrim": _strict(pc.utf8_rtrim_whitespace),
    "length": _strict(pc.utf8_length),
    "abs": _strict(pc.abs_checked),
    "round": _round,
    "floor": _strict(_whole(pc.floor)),
    "ceil": _strict(_whole(pc.ceil)),
    "coalesce": _coalesce,
    "is_null": lambda call, args: pc.is_null(args[0]),
    "if": _if,
    "year": _strict(pc.year),
    "month": _strict(pc.month),
    "day": _strict(pc.day),
    "quarter": _strict(pc.quarter),
    "hour": _strict(pc.hour),
    "minute": _strict(pc.minute),
    "second": _strict(pc.second),
    "date_diff": date_diff,
    "date_trunc": date_trunc,
    "concat": _concat,
    "to_date": _strict(_to_date),
    "substring": _substring,
    "replace": _replace,
    # Made by the translator from SQL forms (x like 'a%', cast(x as int)), not called by name.
    "like": _like,
    "ilike": _like,
    "cast": _cast,
    "try_cast": _cast,
}
