"""The fixed functions an expression may call: the arity and type rule of each.

Their pyarrow kernels are in ``_kernels``: checking a spec loads neither pyarrow nor numpy.
The type helpers the operators share with the functions live here too, so that ``_types``
can import the table without a circle.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from tuskflow.etl.errors import ExpressionError
from tuskflow.etl.expressions._nodes import Call, Expr, Literal
from tuskflow.etl.expressions._render import render
from tuskflow.etl.types import NUMERIC, TypeName


@dataclass(frozen=True)
class Function:
    """A function the grammar knows: its arity and how it types (``_kernels`` computes it)."""

    min_args: int
    max_args: int | None  # None: any number from min_args
    typer: Callable[[Call, list[TypeName | None]], TypeName | None]


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


def _date_diff_type(call: Call, found: list[TypeName | None]) -> TypeName | None:
    _needs(call, found[1:], frozenset({"date", "timestamp"}), "dates or timestamps")
    return "int"


def _date_trunc_type(call: Call, found: list[TypeName | None]) -> TypeName | None:
    return _needs(call, found[1:], frozenset({"date", "timestamp"}), "a date or timestamp")


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


FUNCTIONS: dict[str, Function] = {
    "lower": Function(1, 1, _string_type("string")),
    "upper": Function(1, 1, _string_type("string")),
    "trim": Function(1, 1, _string_type("string")),
    "ltrim": Function(1, 1, _string_type("string")),
    "rtrim": Function(1, 1, _string_type("string")),
    "length": Function(1, 1, _string_type("int")),
    "abs": Function(1, 1, _numeric_type),
    "round": Function(1, 2, _numeric_type),
    "floor": Function(1, 1, _numeric_type),
    "ceil": Function(1, 1, _numeric_type),
    "coalesce": Function(1, None, _common),
    "is_null": Function(1, 1, _fixed_type("bool")),
    "if": Function(3, 3, _if_type),
    "year": Function(1, 1, _date_part_type),
    "month": Function(1, 1, _date_part_type),
    "day": Function(1, 1, _date_part_type),
    "quarter": Function(1, 1, _date_part_type),
    "hour": Function(1, 1, _date_part_type),
    "minute": Function(1, 1, _date_part_type),
    "second": Function(1, 1, _date_part_type),
    # date_diff(unit, a, b) and date_trunc(unit, x): the translator makes the unit a literal.
    "date_diff": Function(3, 3, _date_diff_type),
    "date_trunc": Function(2, 2, _date_trunc_type),
    "concat": Function(1, None, _fixed_type("string")),
    "to_date": Function(1, 1, _to_date_type),
    "substring": Function(2, 3, _literal_args_type("string", int, "start and length")),
    "replace": Function(3, 3, _literal_args_type("string", str, "what and with what")),
    # Made by the translator from SQL forms (x like 'a%', cast(x as int)), not called by name.
    "like": Function(2, 2, _literal_args_type("bool", str, "the pattern")),
    "ilike": Function(2, 2, _literal_args_type("bool", str, "the pattern")),
    "cast": Function(2, 2, _cast_type),
    "try_cast": Function(2, 2, _cast_type),
}
