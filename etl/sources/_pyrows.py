"""Records of Python values (from Excel or Avro) into typed columns, rejecting what does not fit.

The rules, one per column type: a string takes any scalar as its text; an int takes ints and
whole floats; a float any number; a bool true/false (and 1/0); a date a date, a datetime at
midnight or an ISO date; a timestamp a datetime (kept as UTC), a date or an ISO timestamp.
Text is parsed for the other types, and an empty text is null.
"""

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from itertools import islice

import numpy as np
import pyarrow as pa

from tuskflow.etl.arrow_types import ARROW_TYPES
from tuskflow.etl.sources._cast import FALSE_VALUES, TOLERATED_SHARE, TRUE_VALUES, reason
from tuskflow.etl.sources._model import ReadResult, Reject, no_columns, result
from tuskflow.etl.types import TypeName

_INT64 = (-(1 << 63), (1 << 63) - 1)
_SAMPLE = 1000

Record = Mapping[str, object]


def rows_result(
    path: str,
    schema: dict[str, TypeName],
    records: Iterable[Record | Reject],
) -> ReadResult:
    """The ReadResult of records numbered from 1; a Reject stands for a record already refused."""
    columns: dict[str, list[object]] = {name: [] for name in schema}
    kept: list[int] = []
    rejects: list[Reject] = []
    number = 0
    for number, record in enumerate(records, start=1):
        if isinstance(record, Reject):
            rejects.append(record)
            continue
        values, problems = _converted(record, schema)
        if problems:
            rejects.append(Reject(number, "; ".join(problems), record_text(record)))
            continue
        for name, value in values.items():
            columns[name].append(value)
        kept.append(number)
    table = (
        pa.table(
            {name: pa.array(columns[name], ARROW_TYPES[kind]) for name, kind in schema.items()}
        )
        if schema
        else no_columns(len(kept))
    )
    return result(path, table, np.array(kept, np.int64), rejects, number)


def record_text(record: Record) -> str:
    """A record as the text a reject shows: JSON."""
    return json.dumps(record, default=str, ensure_ascii=False)


def infer_kind(values: Iterable[object]) -> TypeName:
    """The one column type the values fit, text among them tolerated up to TOLERATED_SHARE."""
    kinds = Counter(_kind_of(value) for value in values if value is not None and value != "")
    total = kinds.total()
    texts = kinds.pop("string", 0)
    typed = set(kinds)
    if typed in ({"int", "float"}, {"date", "timestamp"}):
        typed = {"float" if "float" in typed else "timestamp"}
    if len(typed) != 1 or texts > total * TOLERATED_SHARE:
        return "string"
    return typed.pop()


def sample(rows: Iterable[Record]) -> list[Record]:
    """The first rows, enough to infer types from."""
    return list(islice(rows, _SAMPLE))


def _kind_of(value: object) -> TypeName:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float | Decimal):
        return "float"
    if isinstance(value, dt.datetime):
        return "date" if _is_midnight(value) else "timestamp"
    if isinstance(value, dt.date):
        return "date"
    return "string"


def _converted(record: Record, schema: dict[str, TypeName]) -> tuple[dict[str, object], list[str]]:
    values: dict[str, object] = {}
    problems: list[str] = []
    for name, kind in schema.items():
        value = record.get(name)
        try:
            values[name] = _value(value, kind)
        except (ValueError, TypeError, OverflowError):
            problems.append(reason(name, value, kind))
    return values, problems


def _value(value: object, kind: TypeName) -> object:
    if value is None or (value == "" and kind != "string"):
        return None
    if isinstance(value, str) and kind not in ("string", "bool"):
        value = value.strip()
    return _RULES[kind](value)


def _string(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise TypeError
    number = int(value)
    if number != value and not isinstance(value, str):
        raise ValueError  # a fraction would be lost
    if not _INT64[0] <= number <= _INT64[1]:
        raise OverflowError
    return number


def _float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise TypeError
    return float(value)


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if value in TRUE_VALUES or value == 1:
        return True
    if value in FALSE_VALUES or value == 0:
        return False
    raise ValueError


def _date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        if not _is_midnight(value):
            raise ValueError
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    raise TypeError


def _timestamp(value: object) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    raise TypeError


def _is_midnight(value: dt.datetime) -> bool:
    return value.tzinfo is None and value.time() == dt.time()


_RULES: dict[str, Callable[[object], object]] = {
    "string": _string,
    "int": _int,
    "float": _float,
    "bool": _bool,
    "date": _date,
    "timestamp": _timestamp,
}
