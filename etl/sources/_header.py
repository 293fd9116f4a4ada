"""A CSV file's column names, read from its first line without pyarrow: submit checks them."""

import csv

from tuskflow.etl.errors import SourceError
from tuskflow.etl.sources._files import compression_of, first_line, split_off_line
from tuskflow.etl.spec import SourceSpec


def csv_columns(source: SourceSpec, path: str) -> list[str]:
    """The file's column names: its header, the spec's columns, or col_1..col_n."""
    compression = compression_of(source, path)
    return csv_names(source, path, first_line(path, compression, source.options.encoding))


def csv_names(source: SourceSpec, path: str, head: bytes) -> list[str]:
    """The column names of a file whose text starts with ``head``: its header line (fields
    quoted as in RFC 4180, as pyarrow reads them), the spec's columns, or col_1..col_n."""
    options = source.options
    if not options.header and source.columns is not None:
        return list(source.columns)
    line = split_off_line(head)[0]
    if not line.strip():
        raise SourceError(f"{path} is empty: it has no first line to name its columns")
    text = line.decode("utf-8", "replace").rstrip("\r\n")
    names = next(csv.reader([text], delimiter=options.delimiter))
    if not options.header:
        return [f"col_{number}" for number in range(1, len(names) + 1)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SourceError(f"{path} names a column more than once: {', '.join(repeated)}")
    return names
