"""The fixed functions an expression may call: the arity, type rule and pyarrow kernel of each.

The type and arrow helpers the operators share with the functions live here too, so that
``_types`` and ``_evaluate`` can import the table without importing each other in a circle.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import pyarrow as pa
import pyarrow.compute as pc

from tuskflow.etl.errors import ExpressionError
from tuskflow.etl.expressions._nodes import Call, Expr, Literal, Value
from tuskflow.etl.expressions._render import render
from tuskflow.etl.sources._cast import convert_each, strict_cast
from tuskflow.etl.types import ARROW_TYPES, NUMERIC, TypeName


@dataclass(frozen=True)
class Function:
    """A function the grammar knows: its arity and how it types and computes."""

    min_args: int
    max_args: int | None  # None: any number from min_args
    typer: Callable[[Call, list[TypeName | None]], TypeName | None]
    kernel: Callable[[Call, list[Value]], Value]


# --- type rules ------------------------------------------------------------------------------


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


def _literal_args_type(
    result: TypeName, literal: type, what: str
) -> Callable[[Call, list[TypeName | None]], TypeName | None]:
    """A string function whose arguments after the first are literals of one Python type."""

    def typer(call: Call, found: list[TypeName | None]) -> TypeName | None:
        _needs(call, found[:1], frozenset({"string"}), "a string")
        for arg in call.args[1:]:
            if not (isinstance(arg, Literal) and type(arg.value) is literal):
                raise _type_error(call, f"{call.fn}() takes {what} as literals")
        return result

    return typer


def _cast_type(call: Call, found: list[TypeName | None]) -> TypeName | None:
    return cast(TypeName, cast(Literal, call.args[1]).value)


def _fixed_type(result: TypeName) -> Callable[[Call, list[TypeName | None]], TypeName | None]:
    return lambda call, found: result


# --- kernels ---------------------------------------------------------------------------------


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
    "quarter": Function(1, 1, _date_part_type, _strict(pc.quarter)),
    "hour": Function(1, 1, _date_part_type, _strict(pc.hour)),
    "minute": Function(1, 1, _date_part_type, _strict(pc.minute)),
    "second": Function(1, 1, _date_part_type, _strict(pc.second)),
    "concat": Function(1, None, _fixed_type("string"), _concat),
    "to_date": Function(1, 1, _to_date_type, _strict(_to_date)),
    "substring": Function(2, 3, _literal_args_type("string", int, "start and length"), _substring),
    "replace": Function(3, 3, _literal_args_type("string", str, "what and with what"), _replace),
    # Made by the translator from SQL forms (x like 'a%', cast(x as int)), not called by name.
    "like": Function(2, 2, _literal_args_type("bool", str, "the pattern"), _like),
    "ilike": Function(2, 2, _literal_args_type("bool", str, "the pattern"), _like),
    "cast": Function(2, 2, _cast_type, _cast),
    "try_cast": Function(2, 2, _cast_type, _cast),
}
