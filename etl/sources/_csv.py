"""CSV: a file's column names, its inferred schema, and one partition read.

A partition is read by pyarrow with the schema's types in one pass. Only when that fails is it
read again with every column as text, so that the records with the wrong number of fields, the
values that do not convert and the lines that are not valid text are each rejected by number.
"""

import re
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from tuskflow.etl.arrow_types import ARROW_TYPES
from tuskflow.etl.errors import SourceError
from tuskflow.etl.sources._cast import csv_column, has_hex_int, text_kind
from tuskflow.etl.sources._files import (
    compression_of,
    first_line,
    is_valid_text,
    line_text,
    read_head,
    read_range,
    read_whole,
    split_off_line,
    to_utf8,
    undecodable,
)
from tuskflow.etl.sources._header import csv_names
from tuskflow.etl.sources._lines import CsvLines
from tuskflow.etl.sources._model import (
    Ordinals,
    Partition,
    ReadResult,
    Reject,
    all_ordinals,
    arrow_schema,
    empty_result,
    result,
)
from tuskflow.etl.spec import SourceSpec
from tuskflow.etl.types import TypeName

_HEAD_BYTES = 1 << 20
_BLANK = re.compile(rb"[\r\n]*")  # what pyarrow reads no record from
# An empty field is null, whatever its column's type.
_CONVERT = {"null_values": [""], "strings_can_be_null": True, "quoted_strings_can_be_null": True}

Handler = Callable[[pacsv.InvalidRow], str]


def csv_schema(source: SourceSpec, path: str) -> dict[str, TypeName]:
    """The types pyarrow infers from the head of the file."""
    encoding = source.options.encoding
    head = read_head(path, compression_of(source, path), encoding, _HEAD_BYTES)
    names = csv_names(source, path, head)
    body = split_off_line(head)[1] if source.options.header else head
    if _BLANK.fullmatch(body):
        return dict.fromkeys(names, "string")
    body = body.decode("utf-8", "replace").encode("utf-8")  # undecodable rows read as text
    text = _read(body, names, dict.fromkeys(names, pa.large_string()), source, _skip)
    return {name: text_kind(text.column(name).combine_chunks()) for name in names}


def read_csv(source: SourceSpec, partition: Partition, schema: dict[str, TypeName]) -> ReadResult:
    """One partition's rows in the schema's types, and its rejects."""
    path = partition.path
    compression = compression_of(source, path)
    if compression is None:
        raw = read_range(path, partition.byte_start, partition.byte_end)
    else:
        raw = read_whole(path, compression)
    encoding = source.options.encoding
    data = to_utf8(raw, encoding)
    first = data if partition.byte_start == 0 else first_line(path, compression, encoding)
    if partition.byte_start == 0 and source.options.header:
        data = split_off_line(data)[1]
    if _BLANK.fullmatch(data):
        return empty_result(path, schema)
    names = csv_names(source, path, first)
    missing = [name for name in schema if name not in names]
    if missing:
        raise SourceError(f"{path} has no column {', '.join(map(repr, missing))}")
    types = {name: ARROW_TYPES[kind] for name, kind in schema.items()}
    try:
        table = _read(data, names, types, source)
    except pa.ArrowInvalid:
        return _salvage(source, path, data, names, schema)
    if _read_too_much(data, names, schema, source):
        return _salvage(source, path, data, names, schema)
    return result(path, table, all_ordinals(table.num_rows), [], table.num_rows)


def _read_too_much(
    data: bytes, names: list[str], schema: dict[str, TypeName], source: SourceSpec
) -> bool:
    """Whether the one-pass read kept records the salvage rejects, which it must not.

    pyarrow checks the text of the columns it reads only, so a line that is not valid text in
    another column passed whenever its partition held no other bad record: rejects hung on the
    partitioning. And it reads ``0x1F`` in an int column as 31. Both checks are cheap when
    clean: ASCII is tested by words, and only data holding an ``x`` reads its ints again.
    """
    if not is_valid_text(data):
        return True
    ints = [name for name, kind in schema.items() if kind == "int"]
    if not ints or (b"x" not in data and b"X" not in data):
        return False
    text = _read(data, names, dict.fromkeys(ints, pa.large_string()), source)
    return any(has_hex_int(text.column(name).combine_chunks()) for name in ints)


def _read(
    data: bytes,
    names: list[str],
    types: dict[str, pa.DataType] | None,
    source: SourceSpec,
    handler: Handler | None = None,
) -> pa.Table:
    if types is None:
        convert = pacsv.ConvertOptions(**_CONVERT)
    else:
        # pyarrow reads every column when none is included: with none to read, read the first
        # as text (it never fails to convert) for the row count, and drop it.
        include = types or {names[0]: pa.large_string()}
        convert = pacsv.ConvertOptions(
            column_types=include, include_columns=list(include), **_CONVERT
        )
    table = pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(use_threads=False, column_names=names),
        parse_options=pacsv.ParseOptions(
            delimiter=source.options.delimiter, invalid_row_handler=handler
        ),
        convert_options=convert,
    )
    return table if types is None else table.select(list(types))


def _skip(row: pacsv.InvalidRow) -> str:
    return "skip"


def _salvage(
    source: SourceSpec, path: str, data: bytes, names: list[str], schema: dict[str, TypeName]
) -> ReadResult:
    """The partition read as text, each bad record rejected with its number and reason."""
    lines = CsvLines(data)
    bad_text = undecodable(data, lines, source.options.encoding)
    if bad_text:
        data = data.decode("utf-8", "replace").encode("utf-8")
    text, rejects = _read_text(source, data, names, schema)
    records = text.num_rows + len(rejects)
    kept = _numbers_except(records, rejects)
    columns, problems = _converted(text, schema)
    for number, reason in bad_text.items():
        at = int(np.searchsorted(kept, number))
        if at < len(kept) and kept[at] == number:
            problems.setdefault(at, []).insert(0, reason)
        elif number in rejects:
            earlier = rejects[number]
            rejects[number] = Reject(number, f"{reason}; {earlier.reason}", earlier.record)
    for at, reasons in problems.items():
        number = int(kept[at])
        record = _record(lines, records, number, text.slice(at, 1), source.options.delimiter)
        rejects[number] = Reject(number, "; ".join(reasons), record)
    keep = np.ones(len(kept), bool)
    keep[list(problems)] = False
    table = pa.Table.from_arrays(columns, schema=arrow_schema(schema)) if columns else text
    table = table.filter(pa.array(keep))
    return result(path, table, kept[keep], list(rejects.values()), records)


def _read_text(
    source: SourceSpec, data: bytes, names: list[str], schema: dict[str, TypeName]
) -> tuple[pa.Table, dict[int, Reject]]:
    """The schema's columns as text, and the records with a wrong number of fields."""
    rejects: dict[int, Reject] = {}

    def wrong_width(row: pacsv.InvalidRow) -> str:
        reason = f"expected {row.expected_columns} fields, found {row.actual_columns}"
        rejects[row.number] = Reject(row.number, reason, row.text)
        return "skip"

    text = _read(data, names, dict.fromkeys(schema, pa.large_string()), source, wrong_width)
    return text, rejects


def _converted(
    text: pa.Table, schema: dict[str, TypeName]
) -> tuple[list[pa.Array], dict[int, list[str]]]:
    """The text columns in their types, and the reasons of each failing row by position."""
    columns = []
    problems: dict[int, list[str]] = {}
    for name, kind in schema.items():
        converted = csv_column(name, text.column(name).combine_chunks(), kind)
        columns.append(converted.array)
        for at, reason in converted.failures.items():
            problems.setdefault(at, []).append(reason)
    return columns, problems


def _numbers_except(records: int, rejected: dict[int, Reject]) -> Ordinals:
    """The record numbers 1..records without the rejected ones."""
    left = np.ones(records + 1, bool)
    left[0] = False
    left[list(rejected)] = False
    return np.flatnonzero(left).astype(np.int64)


def _record(lines: CsvLines, records: int, number: int, row: pa.Table, delimiter: str) -> str:
    if len(lines) == records:
        return line_text(lines[number - 1])
    # pyarrow saw a line break this split did not (a lone CR): show the fields read instead.
    fields = row.to_pylist()[0].values()
    return delimiter.join("" if field is None else str(field) for field in fields)
