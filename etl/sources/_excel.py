"""Excel workbooks (.xlsx) through openpyxl: the named sheet or the first, one partition a file."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tuskflow.etl.errors import SourceError
from tuskflow.etl.sources._model import Partition, ReadResult, Reject
from tuskflow.etl.sources._pyrows import Record, infer_kind, record_text, rows_result, sample
from tuskflow.etl.spec import SourceSpec
from tuskflow.etl.types import TypeName

Row = Sequence[object]


def excel_columns(source: SourceSpec, path: str) -> list[str]:
    """The sheet's column names: its first row, the spec's columns, or col_1..col_n."""
    with _rows(source, path) as rows:
        return _names(source, path, rows)[0]


def excel_schema(source: SourceSpec, path: str) -> dict[str, TypeName]:
    """The types the first rows of the sheet hold."""
    with _rows(source, path) as rows:
        names, first = _names(source, path, rows)
        head = sample(r for r in _records(names, first, rows) if not isinstance(r, Reject))
    return {name: infer_kind(record.get(name) for record in head) for name in names}


def read_excel(source: SourceSpec, partition: Partition, schema: dict[str, TypeName]) -> ReadResult:
    """The sheet's rows in the schema's types, and its rejects."""
    path = partition.path
    with _rows(source, path) as rows:
        names, first = _names(source, path, rows)
        missing = [name for name in schema if name not in names]
        if missing:
            raise SourceError(f"{path} has no column {', '.join(map(repr, missing))}")
        return rows_result(path, schema, _records(names, first, rows))


@contextmanager
def _rows(source: SourceSpec, path: str) -> Iterator[Iterator[Row]]:
    try:
        import openpyxl  # noqa: PLC0415 - loaded by the jobs that read Excel, not by every submit

        book: Any = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise SourceError(f"cannot read {path} as an Excel workbook: {exc}") from None
    try:
        sheet = source.options.sheet
        if sheet is not None and sheet not in book.sheetnames:
            names = ", ".join(book.sheetnames)
            raise SourceError(f"{path} has no sheet {sheet!r} (it has {names})")
        worksheet = book[sheet] if sheet is not None else book.worksheets[0]
        yield (row for row in worksheet.iter_rows(values_only=True) if _filled(row))
    finally:
        book.close()


def _names(source: SourceSpec, path: str, rows: Iterator[Row]) -> tuple[list[str], Row | None]:
    """The column names, and the first data row when the first row is not a header."""
    first = next(rows, None)
    if not source.options.header:
        if source.columns is not None:
            return list(source.columns), first
        return [f"col_{n}" for n in range(1, _width(first or ()) + 1)], first
    if first is None:
        raise SourceError(f"{path} is empty: it has no first row to name its columns")
    cells = first[: _width(first)]
    names = [f"col_{n}" if c is None else str(c) for n, c in enumerate(cells, start=1)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SourceError(f"{path} names a column more than once: {', '.join(repeated)}")
    return names, None


def _records(names: list[str], first: Row | None, rows: Iterator[Row]) -> Iterator[Record | Reject]:
    for number, row in enumerate(_chain(first, rows), start=1):
        width = _width(row)
        if width > len(names):
            record = record_text({str(n): v for n, v in enumerate(row[:width], start=1)})
            yield Reject(number, f"expected {len(names)} fields, found {width}", record)
        else:
            yield dict(zip(names, row, strict=False))


def _chain(first: Row | None, rows: Iterator[Row]) -> Iterator[Row]:
    if first is not None:
        yield first
    yield from rows


def _width(row: Row) -> int:
    """The number of cells up to the last one that holds a value."""
    width = len(row)
    while width and row[width - 1] is None:
        width -= 1
    return width


def _filled(row: Row) -> bool:
    return any(cell is not None for cell in row)
