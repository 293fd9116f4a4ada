"""Helpers of the engine tests: an orders file, its independent reading with pandas, job runs.

The expected results never go through tuskflow: pandas reads the same CSV text, converts each
column itself and decides which records are malformed, so a bug shared by the engine and its
helpers cannot hide in both sides of a comparison.
"""

import datetime
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from distributed import Client

from tuskflow.etl.context import JobContext
from tuskflow.etl.engine import JobPlan, JobResult, plan_job, run_plan
from tuskflow.etl.spec import parse_spec

# The orders file's columns in file order, as the specs declare them.
ORDER_TYPES: dict[str, str] = {
    "order_id": "int",
    "customer_id": "int",
    "region": "string",
    "product": "string",
    "invoice": "string",
    "quantity": "int",
    "price": "float",
    "ordered_on": "date",
    "code": "string",
    "coupon": "int",
    "paid": "bool",
}
REGIONS = ("north", "south", "east", "west")
FIRST_DAY = datetime.date(2024, 1, 1)

Faults = Mapping[str, Mapping[int, str]]


@dataclass(frozen=True)
class Orders:
    """An orders CSV and its text as pandas reads it (index: record number)."""

    path: Path
    text: pd.DataFrame

    @property
    def good(self) -> pd.DataFrame:
        """The records whose every value converts, in their types."""
        return self.reading(ORDER_TYPES)[0]

    @property
    def bad(self) -> list[int]:
        """The records with a value that does not convert."""
        return self.reading(ORDER_TYPES)[1]

    def reading(self, columns: Collection[str]) -> tuple[pd.DataFrame, list[int]]:
        """The records as a job reading only ``columns`` sees them: (good ones, bad numbers).

        The engine converts only the source columns a job uses (etl/pruning.py), so a bad
        value in another column rejects nothing; those columns are left out.
        """
        return convert_text(self.text, {name: ORDER_TYPES[name] for name in columns})


def write_orders(path: Path, rows: int, seed: int, faults: Faults) -> None:
    """An orders CSV of ``rows`` records; ``faults`` puts raw text at (column, record number)."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, rows + 1)
    days = rng.integers(0, 366, rows)
    text = pd.DataFrame(
        {
            "order_id": ids.astype(str),
            "customer_id": rng.integers(1, 2001, rows).astype(str),
            "region": rng.choice(REGIONS, rows),
            "product": [f"P-{n:03d}" for n in rng.integers(0, 200, rows)],
            "invoice": [f"INV-{n:06d}" for n in ids],
            "quantity": rng.integers(-2, 21, rows).astype(str),
            "price": (rng.integers(100, 100_000, rows) / 100).astype(str),
            "ordered_on": [(FIRST_DAY + datetime.timedelta(days=int(d))).isoformat() for d in days],
            "code": rng.integers(0, 10_000, rows).astype(str),
            "coupon": rng.integers(1, 301, rows).astype(str),
            "paid": rng.choice(["true", "false"], rows),
        },
        dtype=object,
    )
    for column, values in faults.items():
        for record, value in values.items():
            text.loc[record - 1, column] = value
    text.to_csv(path, index=False)


def read_orders(path: Path) -> Orders:
    """The file as pandas reads it: text, empty fields as empty strings."""
    text = pd.read_csv(path, dtype=object, keep_default_na=False)
    text.index = pd.RangeIndex(1, len(text) + 1)
    return Orders(path, text)


def convert_text(text: pd.DataFrame, types: Mapping[str, str]) -> tuple[pd.DataFrame, list[int]]:
    """Text columns in their types (empty text is null); the index labels of failing rows."""
    converted = pd.DataFrame(index=text.index)
    failed = pd.Series(False, index=text.index)
    for name, kind in types.items():
        column = text[name].astype(object)
        empty = column == ""
        values = _CONVERTERS[kind](column.where(~empty, None))
        failed |= values.isna() & ~empty
        converted[name] = values
    return converted[~failed], [int(label) for label in text.index[failed]]


def _ints(text: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(text, errors="coerce")
    whole = numbers.notna() & text.astype(str).str.fullmatch(r"-?[0-9]+")
    return numbers.where(whole).astype("Int64")


def _floats(text: pd.Series) -> pd.Series:
    return pd.to_numeric(text, errors="coerce").astype("float64")


def _dates(text: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    return pd.Series([d.date() if pd.notna(d) else None for d in parsed], index=text.index)


def _bools(text: pd.Series) -> pd.Series:
    return text.map({"true": True, "false": False}).astype(object)


def _strings(text: pd.Series) -> pd.Series:
    return text.astype(object)


_CONVERTERS: dict[str, Callable[[pd.Series], pd.Series]] = {
    "int": _ints,
    "float": _floats,
    "date": _dates,
    "bool": _bools,
    "string": _strings,
}


@dataclass
class RecordingObserver:
    """An engine observer that records what it is told and never cancels."""

    done: list[tuple[int, int, int]] = field(default_factory=list)
    rejects: list[pa.Table] = field(default_factory=list)

    def partition_done(self, index: int, rows_in: int, rejected: int) -> None:
        """Record the partition."""
        self.done.append((index, rows_in, rejected))

    def cancelled(self) -> bool:
        """Never cancelled."""
        return False

    def rejected(self, rejects: pa.Table) -> None:
        """Record the job's rejects."""
        self.rejects.append(rejects)

    def publishing(self) -> None:
        """Always lets the output be published."""


@dataclass(frozen=True)
class Run:
    """A job run through the engine: its plan, result and what its observer saw."""

    plan: JobPlan
    result: JobResult
    observer: RecordingObserver


def orders_spec(
    path: Path | str,
    transforms: Sequence[Mapping[str, Any]],
    sink: Mapping[str, Any],
    *,
    checks: Sequence[Mapping[str, Any]] = (),
    max_share: float = 1.0,
) -> dict[str, Any]:
    """A spec document reading the orders file in 1 MB partitions."""
    return {
        "version": 1,
        "name": "orders test",
        "source": {
            "format": "csv",
            "path": str(path),
            "columns": ORDER_TYPES,
            "partition_mb": 1,
        },
        "transforms": list(transforms),
        "sink": dict(sink),
        "checks": list(checks),
        "rejects": {"max_share": max_share},
    }


def job_context(database_url: str | None = None, job_id: str = "job-1") -> JobContext:
    """The context of a job's first attempt."""
    return JobContext(job_id, 1, database_url)


def run_job(
    client: Client, document: Mapping[str, Any], job: JobContext, observer: RecordingObserver
) -> Run:
    """Plan and run a spec document on the cluster."""
    plan = plan_job(parse_spec(dict(document)))
    return Run(plan, run_plan(plan, job, client, observer), observer)


def assert_observed(run: Run) -> None:
    """Every partition was told once, with the records read, and the rejects once."""
    indexes = sorted(index for index, _, _ in run.observer.done)
    assert indexes == list(range(len(run.plan.partitions)))
    assert sum(rows for _, rows, _ in run.observer.done) == run.result.rows_in
    assert len(run.observer.rejects) == 1
    assert run.observer.rejects[0].equals(run.result.rejects)


def read_csv_output(path: Path, types: Mapping[str, str]) -> pd.DataFrame:
    """A CSV the job wrote, read back by pandas in these types; every value must convert."""
    text = pd.read_csv(path, dtype=object, keep_default_na=False)
    assert list(text.columns) == list(types)
    frame, failed = convert_text(text, types)
    assert failed == []
    return frame


def partition_of_record(run: Run, record: int) -> int:
    """The index of the partition that read a record of a single-file source."""
    counts = dict((index, rows) for index, rows, _ in run.observer.done)
    ends = np.cumsum([counts[index] for index in range(len(counts))])
    return int(np.searchsorted(ends, record))


def reject_rows(rejects: pa.Table) -> list[tuple[str, int]]:
    """(file name, record number) of each reject, sorted."""
    files = rejects.column("source_file").to_pylist()
    rows = rejects.column("row").to_pylist()
    return sorted((Path(name).name, row) for name, row in zip(files, rows, strict=True))


def reasons_by_row(rejects: pa.Table) -> dict[int, str]:
    """Each reject's reason by its record number."""
    rows = rejects.column("row").to_pylist()
    return dict(zip(rows, rejects.column("reason").to_pylist(), strict=True))


def assert_same_rows(got: pd.DataFrame, want: pd.DataFrame, order_by: Sequence[str]) -> None:
    """The same columns in order and the same rows in any order (floats to 1e-9).

    ``order_by`` must identify a row, so that both sides are put in one order.
    """
    pd.testing.assert_frame_equal(
        normalized(got, order_by), normalized(want, order_by), check_dtype=False, rtol=1e-9
    )


def normalized(frame: pd.DataFrame, order_by: Sequence[str]) -> pd.DataFrame:
    """Numbers as float64, everything else as Python objects with None, rows in one order."""
    columns = {str(name): _normal(frame[name]) for name in frame.columns}
    out = pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))
    keys = [f"_key{i}" for i in range(len(order_by))]
    for key, name in zip(keys, order_by, strict=True):
        out[key] = out[name].map(_sortable)
    out = out.sort_values(keys, kind="stable").drop(columns=keys)
    return out.reset_index(drop=True)


def _normal(values: pd.Series) -> pd.Series:
    plain = values.reset_index(drop=True)
    if isinstance(plain.dtype, pd.CategoricalDtype):
        plain = plain.astype(object)
    if pd.api.types.is_bool_dtype(plain):
        return plain.astype(object)
    if pd.api.types.is_numeric_dtype(plain):
        return plain.astype("float64")
    if pd.api.types.is_datetime64_any_dtype(plain):
        return pd.Series([None if pd.isna(v) else v.date() for v in plain], dtype=object)
    return pd.Series([_missing_as_none(v) for v in plain], dtype=object)


def _missing_as_none(value: object) -> object:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _sortable(value: object) -> tuple[int, float, str]:
    """A key that sorts any mix of values: numbers by value, then text, missing ones last."""
    value = _missing_as_none(value)
    if value is None:
        return (2, 0.0, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))
