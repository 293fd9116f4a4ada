"""Which reader reads which format: the schema of a source and one partition's rows."""

from collections.abc import Callable

from tuskflow.etl.errors import SourceError
from tuskflow.etl.sources._avro import avro_columns, avro_schema, read_avro
from tuskflow.etl.sources._csv import csv_columns, csv_schema, read_csv
from tuskflow.etl.sources._excel import excel_columns, excel_schema, read_excel
from tuskflow.etl.sources._files import list_files
from tuskflow.etl.sources._json import json_schema, ndjson_schema, read_json_array, read_ndjson
from tuskflow.etl.sources._model import Partition, ReadResult
from tuskflow.etl.sources._parquet import parquet_columns, parquet_schema, read_parquet
from tuskflow.etl.spec import SourceSpec
from tuskflow.etl.types import TypeName

Schema = dict[str, TypeName]
Reader = Callable[[SourceSpec, Partition, Schema], ReadResult]

_INFER: dict[str, Callable[[SourceSpec, str], Schema]] = {
    "csv": csv_schema,
    "json": json_schema,
    "ndjson": ndjson_schema,
    "parquet": lambda source, path: parquet_schema(path),
    "excel": excel_schema,
    "avro": lambda source, path: avro_schema(path),
}
# Formats whose files name their columns; JSON objects name theirs one by one.
_COLUMNS: dict[str, Callable[[SourceSpec, str], list[str]]] = {
    "csv": csv_columns,
    "parquet": lambda source, path: parquet_columns(path),
    "excel": excel_columns,
    "avro": lambda source, path: avro_columns(path),
}
_SELF_DESCRIBED = frozenset({"parquet", "avro"})
_READERS: dict[str, Reader] = {
    "csv": read_csv,
    "json": read_json_array,
    "ndjson": read_ndjson,
    "parquet": read_parquet,
    "excel": read_excel,
    "avro": read_avro,
}


def read_schema(source: SourceSpec) -> Schema:
    """The source's columns and types: the spec's own, or inferred from the head of its first file.

    Explicit columns are checked against the first file's header, where the format has one.
    """
    first = list_files(source)[0]
    try:
        if source.columns is None:
            return _INFER[source.format](source, first)
        names = _COLUMNS.get(source.format)
        if names is not None and (source.options.header or source.format in _SELF_DESCRIBED):
            have = names(source, first)
            missing = [name for name in source.columns if name not in have]
            if missing:
                listed = ", ".join(map(repr, missing))
                raise SourceError(f"{first} has no column {listed} (it has {', '.join(have)})")
        return dict(source.columns)
    except OSError as exc:
        raise SourceError(f"cannot read {first}: {exc}") from None


def read_partition(source: SourceSpec, partition: Partition, schema: Schema) -> ReadResult:
    """One partition's rows in the schema's columns and types, its rejects and record count."""
    try:
        return _READERS[source.format](source, partition, schema)
    except OSError as exc:
        raise SourceError(f"cannot read {partition.path}: {exc}") from None
