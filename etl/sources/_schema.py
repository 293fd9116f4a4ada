"""A source's schema: the spec's columns checked against the first file, or inferred from it.

Checking a CSV, NDJSON or JSON spec whose columns are declared loads neither pyarrow nor numpy
(submit does it before anything runs); the format's module is imported only when a schema is
inferred or a self-described file (Parquet, Avro, Excel) is opened.
"""

from tuskflow.etl.errors import SourceError
from tuskflow.etl.sources._files import list_files
from tuskflow.etl.sources._header import csv_columns
from tuskflow.etl.spec import SourceSpec
from tuskflow.etl.types import TypeName

Schema = dict[str, TypeName]

_SELF_DESCRIBED = frozenset({"parquet", "avro"})


def read_schema(source: SourceSpec) -> Schema:
    """The source's columns and types: the spec's own, or inferred from the head of its first file.

    Explicit columns are checked against the first file's header, where the format has one.
    """
    first = list_files(source)[0]
    try:
        if source.columns is None:
            return _inferred(source, first)
        if source.options.header or source.format in _SELF_DESCRIBED:
            have = _column_names(source, first)
            missing = [name for name in source.columns if name not in have]
            if missing:
                listed = ", ".join(map(repr, missing))
                raise SourceError(f"{first} has no column {listed} (it has {', '.join(have)})")
        return dict(source.columns)
    except OSError as exc:
        raise SourceError(f"cannot read {first}: {exc}") from None


def _inferred(source: SourceSpec, path: str) -> Schema:
    match source.format:
        case "csv":
            from tuskflow.etl.sources._csv import csv_schema

            return csv_schema(source, path)
        case "ndjson" | "json":
            from tuskflow.etl.sources._json import json_schema, ndjson_schema

            return (ndjson_schema if source.format == "ndjson" else json_schema)(source, path)
        case "parquet":
            from tuskflow.etl.sources._parquet import parquet_schema

            return parquet_schema(path)
        case "excel":
            from tuskflow.etl.sources._excel import excel_schema

            return excel_schema(source, path)
    from tuskflow.etl.sources._avro import avro_schema

    return avro_schema(path)


def _column_names(source: SourceSpec, path: str) -> list[str]:
    """The names the file gives its columns (every name, for a format that names none)."""
    match source.format:
        case "csv":
            return csv_columns(source, path)
        case "parquet":
            from tuskflow.etl.sources._parquet import parquet_columns

            return parquet_columns(path)
        case "excel":
            from tuskflow.etl.sources._excel import excel_columns

            return excel_columns(source, path)
        case "avro":
            from tuskflow.etl.sources._avro import avro_columns

            return avro_columns(path)
    return list(source.columns or {})
