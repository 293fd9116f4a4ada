"""Sources: find a source's files, split them into partitions, read one partition.

Formats: csv, ndjson (one JSON object a line), json (a file holding one array of objects),
parquet, excel (.xlsx, through openpyxl) and avro (through fastavro). Text files may be
compressed (gzip, bz2, zstd; inferred from .gz, .bz2, .zst) and in any encoding.

Partitions: an uncompressed CSV or NDJSON file in an encoding where byte 0x0A is always a
line break is cut into byte ranges of about ``partition_mb``. A range that starts after 0
begins with the first line after its start; every range reads through the line that crosses
its end; so each line is read by exactly one partition. A Parquet file gives one partition a
row group; every other file is one partition.

Reading: the rows come in the schema's columns and types (``etl.arrow_types.ARROW_TYPES``) plus the
hidden ``_tf_file`` and ``_tf_row`` columns. A record that does not read (wrong number of
fields, a value that does not convert, invalid JSON, text not valid in the file's encoding in
any column, read or not, so rejects never hang on the partitioning; an int written in hex)
goes to the rejects with its number and reason; no record is dropped silently. In CSV an
empty field is null; timestamps are ISO 8601, and one with a zone offset is kept as UTC.

Schemas: the spec's ``columns`` when given, else inferred from the head of the first file
(about 1 MB). Inference picks, for each column, the most specific type that takes every value
some type takes; values no type takes (``lots`` among numbers) are tolerated up to 1% of
the head, so a rare bad value is rejected when read instead of turning the column into text.

Known limitation: splitting CSV at byte ranges assumes no line break inside a quoted field,
as dask.dataframe.read_csv does; such a file must be read whole (a large ``partition_mb``).

The names that read rows (``read_partition``, ``plan_partitions``, the records, ``strict_cast``)
are imported on first use: ``list_files`` and ``read_schema``, all that checking a spec needs,
load neither pyarrow nor numpy for a CSV or JSON source with declared columns.
"""

import importlib
from typing import TYPE_CHECKING, Any

from tuskflow.etl.sources._files import list_files
from tuskflow.etl.sources._hidden import HIDDEN_COLUMNS
from tuskflow.etl.sources._schema import read_schema

if TYPE_CHECKING:
    from tuskflow.etl.sources._cast import strict_cast
    from tuskflow.etl.sources._model import REJECT_SCHEMA, Partition, ReadResult
    from tuskflow.etl.sources._plan import plan_partitions
    from tuskflow.etl.sources._readers import read_partition

_READING = {
    "strict_cast": "tuskflow.etl.sources._cast",
    "REJECT_SCHEMA": "tuskflow.etl.sources._model",
    "Partition": "tuskflow.etl.sources._model",
    "ReadResult": "tuskflow.etl.sources._model",
    "plan_partitions": "tuskflow.etl.sources._plan",
    "read_partition": "tuskflow.etl.sources._readers",
}

__all__ = [
    "HIDDEN_COLUMNS",
    "REJECT_SCHEMA",
    "Partition",
    "ReadResult",
    "list_files",
    "plan_partitions",
    "read_partition",
    "read_schema",
    "strict_cast",
]


def __getattr__(name: str) -> Any:
    """A name that reads rows, imported from its module the first time it is asked for."""
    home = _READING.get(name)
    if home is None:
        raise AttributeError(f"module 'tuskflow.etl.sources' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
