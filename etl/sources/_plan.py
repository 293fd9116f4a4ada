"""Splitting a source into partitions: byte ranges, row groups or whole files."""

import os

from tuskflow.etl.sources._files import compression_of, list_files, splits_at_newlines
from tuskflow.etl.sources._model import Partition
from tuskflow.etl.sources._parquet import row_groups
from tuskflow.etl.spec import SourceSpec

_MB = 1 << 20
_SPLITTABLE = frozenset({"csv", "ndjson"})

Piece = tuple[int, int | None, int | None]


def plan_partitions(source: SourceSpec) -> list[Partition]:
    """The source's partitions in file order, indexed from 0 across the whole source."""
    partitions: list[Partition] = []
    for path in list_files(source):
        for start, end, group in _pieces(source, path):
            partitions.append(Partition(path, len(partitions), start, end, group))
    return partitions


def _pieces(source: SourceSpec, path: str) -> list[Piece]:
    if source.format == "parquet":
        return [(0, None, group) for group in range(row_groups(path))] or [(0, None, None)]
    if (
        source.format in _SPLITTABLE
        and compression_of(source, path) is None
        and splits_at_newlines(source.options.encoding)
    ):
        return _ranges(os.path.getsize(path), source.partition_mb * _MB)
    return [(0, None, None)]


def _ranges(size: int, step: int) -> list[Piece]:
    """[0, step), [step, 2 step), ... the last one open-ended, so a growing file loses nothing."""
    starts = range(0, max(size, 1), step)
    return [(start, start + step, None) for start in starts[:-1]] + [(starts[-1], None, None)]
