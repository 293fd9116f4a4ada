"""JSON: newline-delimited objects (ndjson), or a file holding one array of objects (json).

An array is turned into one object a line, so both formats share the reader. A partition is
read by pyarrow with the schema's types in one pass; when that fails, the lines are read in
halves until each failing line stands alone and is rejected with the reason it fails.
"""

import json
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from tuskflow.etl.arrow_types import ARROW_TYPES, type_name_of
from tuskflow.etl.errors import SourceError
from tuskflow.etl.sources._cast import cast_each, reason, shown
from tuskflow.etl.sources._files import (
    compression_of,
    read_head,
    read_range,
    read_whole,
    to_utf8,
    undecodable,
)
from tuskflow.etl.sources._model import (
    Ordinals,
    Partition,
    ReadResult,
    Reject,
    all_ordinals,
    empty_result,
    no_columns,
    result,
)
from tuskflow.etl.sources._pyrows import infer_kind
from tuskflow.etl.spec import SourceSpec
from tuskflow.etl.types import TypeName

_HEAD_BYTES = 1 << 20
_BLOCK = 1 << 20
_INT64 = (-(1 << 63), (1 << 63) - 1)

Lines = Callable[[], list[bytes]]


def ndjson_schema(source: SourceSpec, path: str) -> dict[str, TypeName]:
    """The types pyarrow infers from the objects at the head of the file."""
    head = read_head(path, compression_of(source, path), source.options.encoding, _HEAD_BYTES)
    objects = [line for line in _lines(head) if isinstance(_loads(line), dict)]
    return _inferred(path, b"\n".join(objects))


def json_schema(source: SourceSpec, path: str) -> dict[str, TypeName]:
    """The types pyarrow infers from the first objects of the file's array."""
    head = read_head(path, compression_of(source, path), source.options.encoding, _HEAD_BYTES)
    text = head.decode("utf-8", "surrogateescape").lstrip()
    if not text.startswith("["):
        raise SourceError(f"{path} does not hold a JSON array of objects")
    decoder = json.JSONDecoder()
    objects: list[bytes] = []
    at = 1
    while True:
        at = len(text) - len(text[at:].lstrip(" \t\r\n,"))
        try:
            item, at = decoder.raw_decode(text, at)
        except ValueError:
            break  # the array's end, or the head cut an object short
        if isinstance(item, dict):
            objects.append(_dumps(item))
    return _inferred(path, b"\n".join(objects))


def read_ndjson(
    source: SourceSpec, partition: Partition, schema: dict[str, TypeName]
) -> ReadResult:
    """One partition of newline-delimited objects in the schema's types, and its rejects."""
    path = partition.path
    compression = compression_of(source, path)
    if compression is None:
        raw = read_range(path, partition.byte_start, partition.byte_end)
    else:
        raw = read_whole(path, compression)
    return _read_lines(source, path, to_utf8(raw, source.options.encoding), schema)


def read_json_array(
    source: SourceSpec, partition: Partition, schema: dict[str, TypeName]
) -> ReadResult:
    """A file holding one JSON array, its items numbered from 1, and its rejects."""
    path = partition.path
    raw = read_whole(path, compression_of(source, path))
    try:
        items = json.loads(raw.decode(source.options.encoding, "surrogateescape"))
    except ValueError as exc:
        raise SourceError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(items, list):
        raise SourceError(f"{path} does not hold a JSON array of objects")
    return _read_lines(source, path, b"\n".join(map(_dumps, items)), schema)


def _read_lines(
    source: SourceSpec, path: str, data: bytes, schema: dict[str, TypeName]
) -> ReadResult:
    if not data or data.isspace():
        return empty_result(path, schema)
    # Dates are read as text: pyarrow's JSON reader takes a date as a number of days.
    types = pa.schema(
        [
            (name, pa.large_string() if kind == "date" else ARROW_TYPES[kind])
            for name, kind in schema.items()
        ]
    )
    cached: list[list[bytes]] = []

    def lines() -> list[bytes]:
        if not cached:
            cached.append(_lines(data))
        return cached[0]

    try:
        data.decode("utf-8")  # pyarrow's JSON reader does not check that text is UTF-8
        table = _parse(data, types)
    except (UnicodeDecodeError, pa.ArrowInvalid):
        table, ordinals, rejects = _salvage(data, lines(), types, schema, source.options.encoding)
        records = len(lines())
    else:
        ordinals, rejects, records = all_ordinals(table.num_rows), {}, table.num_rows
    table, ordinals = _dates(table, ordinals, rejects, schema, lines)
    return result(path, table, ordinals, list(rejects.values()), records)


def _parse(data: bytes, types: pa.Schema, block: int = _BLOCK) -> pa.Table:
    return pajson.read_json(
        pa.BufferReader(data),
        read_options=pajson.ReadOptions(use_threads=False, block_size=block),
        parse_options=pajson.ParseOptions(
            explicit_schema=types, unexpected_field_behavior="ignore"
        ),
    )


def _salvage(
    data: bytes, lines: list[bytes], types: pa.Schema, schema: dict[str, TypeName], encoding: str
) -> tuple[pa.Table, Ordinals, dict[int, Reject]]:
    """The good lines' rows and each bad line's reject, by reading ranges of lines in halves."""
    rejects = {
        number: Reject(number, why, _text(lines[number - 1]))
        for number, why in undecodable(data, lines, encoding).items()
    }
    numbers = [number for number in range(1, len(lines) + 1) if number not in rejects]
    pieces: list[pa.Table] = []
    kept: list[int] = []
    ranges = [(0, len(numbers))]
    while ranges:
        low, high = ranges.pop()
        if low == high:
            continue
        chunk = b"\n".join(lines[number - 1] for number in numbers[low:high])
        table, problem = _attempt(chunk, types)
        if table is not None and table.num_rows == high - low:
            pieces.append(table)
            kept += numbers[low:high]
        elif high - low > 1:
            middle = (low + high) // 2
            ranges += [(middle, high), (low, middle)]
        else:
            number = numbers[low]
            why = _diagnose(chunk, schema, problem)
            rejects[number] = Reject(number, why, _text(chunk))
    if not types:  # concat_tables drops the row count of tables without columns
        table = no_columns(len(kept))
    else:
        table = pa.concat_tables(pieces) if pieces else types.empty_table()
    return table, np.array(kept, np.int64), rejects


def _attempt(chunk: bytes, types: pa.Schema) -> tuple[pa.Table | None, str]:
    """The chunk's rows, or None and why pyarrow refused them."""
    try:
        return _parse(chunk, types, max(_BLOCK, len(chunk) + 1)), ""
    except pa.ArrowInvalid as exc:
        return None, str(exc)


def _diagnose(line: bytes, schema: dict[str, TypeName], problem: str) -> str:
    """Why one line does not read: bad JSON, not an object, or the first value of a wrong type."""
    try:
        value = json.loads(line)
    except ValueError as exc:
        return f"invalid JSON: {exc}"
    if not isinstance(value, dict):
        return f"not a JSON object: {shown(value)}"
    for name, kind in schema.items():
        if not _fits(value.get(name), kind):
            return reason(name, value[name], kind)
    return problem or "holds more than one JSON value"


def _fits(value: object, kind: TypeName) -> bool:
    if value is None:
        return True
    if kind == "bool" or isinstance(value, bool):
        return kind == "bool" and isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and _INT64[0] <= value <= _INT64[1]
    if kind == "float":
        return isinstance(value, int | float)
    if kind == "timestamp":
        return isinstance(value, str) and _is_timestamp(value)
    return isinstance(value, str)


def _is_timestamp(text: str) -> bool:
    for kind in (pa.timestamp("us"), pa.timestamp("us", tz="UTC")):
        try:
            pc.cast(pa.array([text]), kind)
        except pa.ArrowInvalid:
            continue
        return True
    return False


def _dates(
    table: pa.Table,
    ordinals: Ordinals,
    rejects: dict[int, Reject],
    schema: dict[str, TypeName],
    lines: Lines,
) -> tuple[pa.Table, Ordinals]:
    """Date columns (read as text) as dates; a value that is not an ISO date rejects its row."""
    failed: dict[int, str] = {}
    for name in [name for name, kind in schema.items() if kind == "date"]:
        at = table.schema.get_field_index(name)
        text = table.column(at).combine_chunks()
        dates, bad = cast_each(text, ARROW_TYPES["date"])
        table = table.set_column(at, name, dates)
        for position in bad:
            failed.setdefault(int(ordinals[position]), reason(name, text[position].as_py(), "date"))
    if not failed:
        return table, ordinals
    for number, why in failed.items():
        line = lines()[number - 1] if number <= len(lines()) else b""  # b"" if "{} {}" on a line
        rejects[number] = Reject(number, why, _text(line))
    keep = ~np.isin(ordinals, np.array(list(failed), np.int64))
    return table.filter(pa.array(keep)), ordinals[keep]


def _inferred(path: str, objects: bytes) -> dict[str, TypeName]:
    if not objects:
        raise SourceError(f"{path} holds no JSON object to infer the columns from")
    try:
        table = pajson.read_json(
            pa.BufferReader(objects), read_options=pajson.ReadOptions(use_threads=False)
        )
    except pa.ArrowInvalid:
        return _inferred_mixed(path, objects)  # a column whose values differ in type
    schema: dict[str, TypeName] = {}
    for field in table.schema:
        try:
            schema[field.name] = type_name_of(field.type)
        except ValueError:
            raise _nested(path, field.name, str(field.type)) from None
    return schema


def _inferred_mixed(path: str, objects: bytes) -> dict[str, TypeName]:
    values: dict[str, list[object]] = {}
    for line in objects.split(b"\n"):
        for name, value in json.loads(line).items():
            if isinstance(value, dict | list):
                raise _nested(path, name, type(value).__name__)
            values.setdefault(name, []).append(value)
    return {name: infer_kind(column) for name, column in values.items()}


def _nested(path: str, name: str, kind: str) -> SourceError:
    return SourceError(
        f"{path}: column {name!r} holds {kind}, which has no spec type;"
        " list the columns to read in the source"
    )


def _lines(data: bytes) -> list[bytes]:
    """The records' lines as pyarrow counts them: every line that is not blank."""
    return [line for line in data.split(b"\n") if line.strip()]


def _loads(line: bytes) -> object:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _dumps(item: object) -> bytes:
    return json.dumps(item, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _text(line: bytes) -> str:
    return line.rstrip(b"\r").decode("utf-8", "replace")
