"""The job spec: what a job reads, how it transforms it, where it writes and what it checks.

Specs are YAML or JSON documents validated with pydantic. ``version`` is the spec schema's
version; a document of another version is refused rather than misread.
"""

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tuskflow.etl.errors import Problem, SpecError
from tuskflow.etl.types import TypeName

SPEC_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReaderOptions(_Model):
    """How to read the source's files; each option applies where the format has it."""

    delimiter: str = Field(",", min_length=1, max_length=1)
    header: bool = True
    encoding: str = "utf-8"
    compression: Literal["infer", "none", "gzip", "bz2", "zstd"] = "infer"
    sheet: str | None = None


class SourceSpec(_Model):
    """Files to read: one file, a folder of them or a glob, in one format."""

    format: Literal["csv", "json", "ndjson", "parquet", "excel", "avro"]
    path: str = Field(min_length=1)
    columns: dict[str, TypeName] | None = None
    options: ReaderOptions = ReaderOptions()
    partition_mb: int = Field(32, ge=1, le=4096)


class Filter(_Model):
    """Keep the rows where ``where`` is true."""

    op: Literal["filter"]
    where: str


class Select(_Model):
    """Keep these columns, in this order."""

    op: Literal["select"]
    columns: list[str] = Field(min_length=1)


class Rename(_Model):
    """Rename columns: ``{old: new}``."""

    op: Literal["rename"]
    columns: dict[str, str] = Field(min_length=1)


class Cast(_Model):
    """Change column types; a value that does not convert rejects its row."""

    op: Literal["cast"]
    columns: dict[str, TypeName] = Field(min_length=1)


class Derive(_Model):
    """A new (or replaced) column computed from an expression."""

    op: Literal["derive"]
    column: str = Field(min_length=1)
    expr: str


class Dedupe(_Model):
    """Keep the first row of each distinct key (all columns when ``columns`` is empty)."""

    op: Literal["dedupe"]
    columns: list[str] = []


class Aggregation(_Model):
    """An aggregation as a mapping, the older form of ``sum(column)``: ``fn`` over ``column``.

    ``count`` without a column counts rows (``count(*)``); with one, its values that are not
    null (``count(column)``), as SQL does. ``mean`` is ``avg``.
    """

    fn: Literal["count", "count_distinct", "sum", "avg", "mean", "min", "max"]
    column: str | None = None

    @model_validator(mode="after")
    def _column_unless_count(self) -> "Aggregation":
        if self.fn != "count" and self.column is None:
            raise ValueError(f"{self.fn} needs a column")
        return self


class GroupBy(_Model):
    """Group by ``by`` (none: one row of the whole) and compute ``aggregations``.

    Each aggregation maps an output column to SQL (``sum(price * qty)``) or to an Aggregation.
    Its spec key is ``op: aggregate``; the class is not the event-sourced ``eventstore.Aggregate``.
    """

    op: Literal["aggregate"]
    by: list[str] = []
    aggregations: dict[str, str | Aggregation] = Field(min_length=1)


class Join(_Model):
    """Join a second source on key columns present on both sides."""

    op: Literal["join"]
    source: SourceSpec
    on: list[str] = Field(min_length=1)
    how: Literal["inner", "left"] = "inner"


class Sort(_Model):
    """Order the rows by ``by``, nulls last; keep the first ``limit`` rows, or of each group.

    A key is a column, or as in SQL ``revenue desc`` / ``region asc``; a key without a
    direction takes ``descending``. With ``per``, the rows come grouped by those columns
    (ascending) and ``limit`` keeps the first of each group: top-N per group.
    """

    op: Literal["sort"]
    by: list[str] = Field(min_length=1)
    descending: bool = False
    limit: int | None = Field(None, ge=0)
    per: list[str] = []

    @model_validator(mode="after")
    def _per_with_a_limit(self) -> "Sort":
        if self.per and self.limit is None:
            raise ValueError("per keeps the first rows of each group: give it a limit")
        return self

    def sort_keys(self) -> list[tuple[str, bool]]:
        """Each key's column and whether it sorts descending, ``per`` columns first."""
        keys = [(column, False) for column in self.per]
        for key in self.by:
            column, _, word = key.rpartition(" ")
            if column.strip() and word.lower() in ("asc", "desc"):
                keys.append((column.strip(), word.lower() == "desc"))
            else:
                keys.append((key, self.descending))
        return keys


Transform = Annotated[
    Filter | Select | Rename | Cast | Derive | Dedupe | GroupBy | Join | Sort,
    Field(discriminator="op"),
]


class ParquetSink(_Model):
    """A folder of Parquet files, hive-partitioned by ``partition_by``."""

    kind: Literal["parquet"]
    path: str = Field(min_length=1)
    partition_by: list[str] = []
    compression: Literal["snappy", "zstd", "gzip", "none"] = "snappy"


class CsvSink(_Model):
    """One CSV file with a header."""

    kind: Literal["csv"]
    path: str = Field(min_length=1)
    delimiter: str = Field(",", min_length=1, max_length=1)


class PostgresSink(_Model):
    """A PostgreSQL table loaded with COPY; ``mode`` says what happens to an existing one."""

    kind: Literal["postgres"]
    table: str = Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
    mode: Literal["create", "append", "replace"] = "create"


class EventStoreSink(_Model):
    """Each row becomes an event in the stream named by ``stream_id`` (an expression)."""

    kind: Literal["eventstore"]
    stream_id: str
    event_type: str = Field(min_length=1)


Sink = Annotated[ParquetSink | CsvSink | PostgresSink | EventStoreSink, Field(discriminator="kind")]


class NotNull(_Model):
    """These columns hold no nulls."""

    check: Literal["not_null"]
    columns: list[str] = Field(min_length=1)


class Unique(_Model):
    """No two rows share these columns' values."""

    check: Literal["unique"]
    columns: list[str] = Field(min_length=1)


class Range(_Model):
    """``column`` lies within [min, max]; either bound may be left out."""

    check: Literal["range"]
    column: str
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> "Range":
        if self.min is None and self.max is None:
            raise ValueError("a range check needs min, max or both")
        return self


class AcceptedValues(_Model):
    """``column`` holds only these values."""

    check: Literal["accepted_values"]
    column: str
    values: list[str | int | float | bool] = Field(min_length=1)


class Regex(_Model):
    """``column`` matches ``pattern`` (RE2 syntax, searched, anchor it yourself)."""

    check: Literal["regex"]
    column: str
    pattern: str


class RowCount(_Model):
    """The output holds between ``min`` and ``max`` rows; failing it fails the job."""

    check: Literal["row_count"]
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)


Check = Annotated[
    NotNull | Unique | Range | AcceptedValues | Regex | RowCount, Field(discriminator="check")
]


class RejectPolicy(_Model):
    """The largest share of rows read that may be rejected before the job fails."""

    max_share: float = Field(0.0, ge=0.0, le=1.0)


class JobSpec(_Model):
    """One ETL job: source, transforms in order, sink, checks and the reject policy."""

    version: Literal[1]
    name: str = Field(min_length=1, max_length=200)
    source: SourceSpec
    transforms: list[Transform] = []
    sink: Sink
    checks: list[Check] = []
    rejects: RejectPolicy = RejectPolicy()


def parse_spec(document: dict[str, Any]) -> JobSpec:
    """The JobSpec for a parsed document, or SpecError listing every problem by its path."""
    try:
        return JobSpec.model_validate(document)
    except ValidationError as exc:
        raise SpecError.of([_problem(error) for error in exc.errors()]) from None


def load_spec(text: str) -> JobSpec:
    """A JobSpec from YAML or JSON text (JSON is YAML)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError.of([Problem("", f"not YAML or JSON: {exc}")]) from None
    if not isinstance(document, dict):
        shape = "a job spec is a mapping with version, name, source and sink"
        raise SpecError.of([Problem("", shape)])
    return parse_spec(document)


def load_spec_file(path: Path) -> JobSpec:
    """A JobSpec from a YAML or JSON file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError.of([Problem("", f"cannot read {path}: {exc.strerror}")]) from None
    return load_spec(text)


def spec_json(spec: JobSpec) -> str:
    """The spec as JSON text, keys in the spec's order: what the job's history keeps."""
    return json.dumps(spec.model_dump(mode="json"))


def _problem(error: Any) -> Problem:
    path = ""
    for part in error["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in {
            "filter",
            "select",
            "rename",
            "cast",
            "derive",
            "dedupe",
            "aggregate",
            "join",
            "sort",
            "parquet",
            "csv",
            "postgres",
            "eventstore",
            "not_null",
            "unique",
            "range",
            "accepted_values",
            "regex",
            "row_count",
        }:
            continue  # the discriminator's tag, which the document already names
        else:
            path += f".{part}" if path else str(part)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "literal_error" and error["loc"][-1:] == ("version",):
        message = f"this tuskflow reads spec version {SPEC_VERSION}; {message}"
    return Problem(path, message)


def with_absolute_paths(spec: JobSpec, base: Path) -> JobSpec:
    """The spec with relative file paths resolved against ``base`` (the submitter's folder)."""

    def absolute(path: str) -> str:
        return path if Path(path).is_absolute() else str(base / path)

    def source(spec_source: SourceSpec) -> SourceSpec:
        return spec_source.model_copy(update={"path": absolute(spec_source.path)})

    transforms = [
        t.model_copy(update={"source": source(t.source)}) if isinstance(t, Join) else t
        for t in spec.transforms
    ]
    sink = spec.sink
    if isinstance(sink, ParquetSink | CsvSink):
        sink = sink.model_copy(update={"path": absolute(sink.path)})
    return spec.model_copy(
        update={"source": source(spec.source), "transforms": transforms, "sink": sink}
    )
