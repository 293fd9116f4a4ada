"""Parquet: the file's schema, and one row group (a partition) cast to the spec's types."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tuskflow.etl.arrow_types import ARROW_TYPES, type_name_of
from tuskflow.etl.errors import SourceError
from tuskflow.etl.sources._cast import cast_each, reason
from tuskflow.etl.sources._model import Partition, ReadResult, Reject, all_ordinals, result
from tuskflow.etl.spec import SourceSpec
from tuskflow.etl.types import TypeName


def parquet_columns(path: str) -> list[str]:
    """The file's column names."""
    names: list[str] = _schema(path).names
    return names


def parquet_schema(path: str) -> dict[str, TypeName]:
    """The spec types of the file's columns."""
    schema: dict[str, TypeName] = {}
    for field in _schema(path):
        try:
            schema[field.name] = type_name_of(field.type)
        except ValueError:
            raise SourceError(
                f"{path}: column {field.name!r} holds {field.type}, which has no spec type;"
                " list the columns to read in the source"
            ) from None
    return schema


def row_groups(path: str) -> int:
    """How many row groups the file holds."""
    try:
        groups: int = pq.read_metadata(path).num_row_groups
    except pa.ArrowInvalid as exc:
        raise SourceError(f"cannot read {path} as Parquet: {exc}") from None
    return groups


def read_parquet(
    source: SourceSpec, partition: Partition, schema: dict[str, TypeName]
) -> ReadResult:
    """The partition's row group (or the whole file) cast to the schema's types, and rejects."""
    path = partition.path
    missing = [name for name in schema if name not in parquet_columns(path)]
    if missing:
        raise SourceError(f"{path} has no column {', '.join(map(repr, missing))}")
    with pq.ParquetFile(path) as file:
        if partition.row_group is None:
            table = file.read(columns=list(schema), use_threads=False)
        else:
            table = file.read_row_group(
                partition.row_group, columns=list(schema), use_threads=False
            )
    columns: list[pa.Array] = []
    failures: dict[int, list[str]] = {}
    for name, kind in schema.items():
        column = table.column(name).combine_chunks()
        converted, failed = _cast(path, name, column, kind)
        columns.append(converted)
        for at in failed:
            failures.setdefault(int(at), []).append(reason(name, column[at].as_py(), kind))
    # With no column to read (a job that uses none) the row count is all the table holds.
    rows = pa.Table.from_arrays(columns, names=list(schema)) if columns else table.select([])
    rejects = [
        Reject(at + 1, "; ".join(why), json.dumps(table.slice(at, 1).to_pylist()[0], default=str))
        for at, why in failures.items()
    ]
    ordinals = all_ordinals(table.num_rows)
    if failures:
        keep = np.ones(table.num_rows, bool)
        keep[list(failures)] = False
        rows, ordinals = rows.filter(pa.array(keep)), ordinals[keep]
    return result(path, rows, ordinals, rejects, table.num_rows)


def _cast(path: str, name: str, column: pa.Array, kind: TypeName) -> tuple[pa.Array, list[int]]:
    target = ARROW_TYPES[kind]
    if column.type == target:
        return column, []
    # Between timestamps only the unit and zone change; sub-microsecond digits are dropped.
    safe = not (pa.types.is_timestamp(column.type) and kind == "timestamp")
    try:
        converted, failed = cast_each(column, target, safe=safe)
    except pa.ArrowNotImplementedError:
        raise SourceError(f"{path}: column {name!r} holds {column.type}, not {kind}") from None
    return converted, [int(at) for at in failed]


def _schema(path: str) -> pa.Schema:
    try:
        return pq.read_schema(path)
    except pa.ArrowInvalid as exc:
        raise SourceError(f"cannot read {path} as Parquet: {exc}") from None
