"""Avro container files through fastavro: types from the writer's schema, one partition a file."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tuskflow.etl.errors import SourceError
from tuskflow.etl.sources._model import Partition, ReadResult
from tuskflow.etl.sources._pyrows import Record, rows_result
from tuskflow.etl.spec import SourceSpec
from tuskflow.etl.types import TypeName

_PRIMITIVES: dict[str, TypeName] = {
    "string": "string",
    "enum": "string",
    "int": "int",
    "long": "int",
    "float": "float",
    "double": "float",
    "boolean": "bool",
}
_LOGICAL: dict[str, TypeName] = {
    "date": "date",
    "timestamp-millis": "timestamp",
    "timestamp-micros": "timestamp",
    "local-timestamp-millis": "timestamp",
    "local-timestamp-micros": "timestamp",
    "decimal": "float",
    "uuid": "string",
}


def avro_columns(path: str) -> list[str]:
    """The field names of the file's records."""
    with _reader(path) as reader:
        return [field["name"] for field in _fields(path, reader)]


def avro_schema(path: str) -> dict[str, TypeName]:
    """The spec types of the writer schema's fields."""
    with _reader(path) as reader:
        schema: dict[str, TypeName] = {}
        for field in _fields(path, reader):
            kind = _kind(field["type"])
            if kind is None:
                raise SourceError(
                    f"{path}: field {field['name']!r} is {field['type']}, which has no spec"
                    " type; list the columns to read in the source"
                )
            schema[field["name"]] = kind
    return schema


def read_avro(source: SourceSpec, partition: Partition, schema: dict[str, TypeName]) -> ReadResult:
    """The file's records in the schema's types, and its rejects."""
    path = partition.path
    with _reader(path) as reader:
        names = [field["name"] for field in _fields(path, reader)]
        missing = [name for name in schema if name not in names]
        if missing:
            raise SourceError(f"{path} has no field {', '.join(map(repr, missing))}")
        records: Iterator[Record] = reader
        return rows_result(path, schema, records)


@contextmanager
def _reader(path: str) -> Iterator[Any]:
    with open(path, "rb") as stream:
        try:
            import fastavro  # noqa: PLC0415 - loaded by the jobs that read Avro

            yield fastavro.reader(stream)
        except (ValueError, EOFError) as exc:
            raise SourceError(f"cannot read {path} as Avro: {exc}") from None


def _fields(path: str, reader: Any) -> list[dict[str, Any]]:
    schema = reader.writer_schema
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise SourceError(f"{path} does not hold records")
    fields: list[dict[str, Any]] = schema["fields"]
    return fields


def _kind(avro_type: Any) -> TypeName | None:
    if isinstance(avro_type, list):
        kinds = [member for member in avro_type if member != "null"]
        return _kind(kinds[0]) if len(kinds) == 1 else None
    if isinstance(avro_type, dict):
        logical = avro_type.get("logicalType")
        if logical in _LOGICAL:
            return _LOGICAL[logical]
        return _kind(avro_type["type"])
    return _PRIMITIVES.get(avro_type) if isinstance(avro_type, str) else None
