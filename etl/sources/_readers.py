"""Which reader reads which format's partitions."""

from collections.abc import Callable

from tuskflow.etl.errors import SourceError
from tuskflow.etl.sources._avro import read_avro
from tuskflow.etl.sources._csv import read_csv
from tuskflow.etl.sources._excel import read_excel
from tuskflow.etl.sources._json import read_json_array, read_ndjson
from tuskflow.etl.sources._model import Partition, ReadResult
from tuskflow.etl.sources._parquet import read_parquet
from tuskflow.etl.sources._schema import Schema
from tuskflow.etl.spec import SourceSpec

Reader = Callable[[SourceSpec, Partition, Schema], ReadResult]

_READERS: dict[str, Reader] = {
    "csv": read_csv,
    "json": read_json_array,
    "ndjson": read_ndjson,
    "parquet": read_parquet,
    "excel": read_excel,
    "avro": read_avro,
}


def read_partition(source: SourceSpec, partition: Partition, schema: Schema) -> ReadResult:
    """One partition's rows in the schema's columns and types, its rejects and record count."""
    try:
        return _READERS[source.format](source, partition, schema)
    except OSError as exc:
        raise SourceError(f"cannot read {partition.path}: {exc}") from None
