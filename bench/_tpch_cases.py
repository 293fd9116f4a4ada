"""The ETL benchmark's TPC-H cases: the lineitem table made by ``tpchgen-cli`` and two jobs on it.

- ``tpch-q1``: TPC-H query 1 on lineitem at scale factor 1 (6,001,215 rows, 16 columns, about
  750 MB of CSV): keep ``l_shipdate <= date '1998-12-01' - interval '90' day``, group by
  ``l_returnflag, l_linestatus`` into four sums (two of them over derived prices), three
  averages and the row count, ordered by the keys.
- ``small``: lineitem at scale factor SMALL_SCALE (about 342,000 rows, 43 MB), grouped by
  ``l_shipmode, l_returnflag`` into two sums, an average and the row count.

Each job is written once, as SQL snippets (the filter and one expression per aggregate); the
tuskflow spec and the DuckDB query are both built from them, so the two tools run the same
text. Polars writes the same jobs with its own expressions in ``_tpch_references``.

The CSV (comma-delimited, a header line, strings quoted where needed) is made by the PyPI
package tpchgen-cli (the ``bench`` extra), TPC-H's dbgen rewritten in Rust: the same rows for
the same scale factor on every machine. It is cached under .tuskflow/bench-data/.
This module imports nothing heavy: the reference processes import it too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / ".tuskflow" / "bench-data"
TPCHGEN = Path(sys.executable).parent / "tpchgen-cli"

LARGE_SCALE = 1.0
SMALL_SCALE = 0.057  # 342,000 rows or so, the size of the small job of the issue

# lineitem's columns in file order, with the spec's type names: its decimals are floats, its
# dates dates, its one-letter flags strings.
COLUMNS: dict[str, str] = {
    "l_orderkey": "int",
    "l_partkey": "int",
    "l_suppkey": "int",
    "l_linenumber": "int",
    "l_quantity": "float",
    "l_extendedprice": "float",
    "l_discount": "float",
    "l_tax": "float",
    "l_returnflag": "string",
    "l_linestatus": "string",
    "l_shipdate": "date",
    "l_commitdate": "date",
    "l_receiptdate": "date",
    "l_shipinstruct": "string",
    "l_shipmode": "string",
    "l_comment": "string",
}
DUCKDB_TYPES = {"int": "BIGINT", "float": "DOUBLE", "string": "VARCHAR", "date": "DATE"}


@dataclass(frozen=True)
class Case:
    """One job on lineitem: an optional filter, aggregates by keys, optionally ordered.

    ``aggregations`` maps each output column to its SQL; ``counts`` names the ones that count
    rows, compared exactly (every other one within a relative tolerance).
    """

    name: str
    scale: float
    keys: tuple[str, ...]
    aggregations: dict[str, str]
    counts: tuple[str, ...]
    where: str | None = None
    ordered: bool = False

    @property
    def measures(self) -> list[str]:
        """The output columns besides the keys, in order."""
        return list(self.aggregations)


Q1 = Case(
    name="tpch-q1",
    scale=LARGE_SCALE,
    keys=("l_returnflag", "l_linestatus"),
    where="l_shipdate <= date '1998-12-01' - interval '90' day",
    aggregations={
        "sum_qty": "sum(l_quantity)",
        "sum_base_price": "sum(l_extendedprice)",
        "sum_disc_price": "sum(l_extendedprice * (1 - l_discount))",
        "sum_charge": "sum(l_extendedprice * (1 - l_discount) * (1 + l_tax))",
        "avg_qty": "avg(l_quantity)",
        "avg_price": "avg(l_extendedprice)",
        "avg_disc": "avg(l_discount)",
        "count_order": "count(*)",
    },
    counts=("count_order",),
    ordered=True,
)

SMALL = Case(
    name="small",
    scale=SMALL_SCALE,
    keys=("l_shipmode", "l_returnflag"),
    aggregations={
        "sum_qty": "sum(l_quantity)",
        "sum_base_price": "sum(l_extendedprice)",
        "avg_disc": "avg(l_discount)",
        "count_order": "count(*)",
    },
    counts=("count_order",),
)

CASES = {case.name: case for case in (Q1, SMALL)}


# --- the data --------------------------------------------------------------------------------


def lineitem_csv(scale: float) -> Path:
    """lineitem at ``scale`` as CSV, made by tpchgen-cli first if missing; SystemExit saying
    how to install it when it is not there, or when its file is not the one expected."""
    path = DATA_DIR / f"tpch-lineitem-sf{scale:g}.csv"
    if path.exists():
        return path
    if not TPCHGEN.exists():
        sys.exit(f"{TPCHGEN} is missing: .venv/bin/pip install -e '.[bench]' installs tpchgen-cli")
    print(f"making {path.relative_to(ROOT)} (TPC-H lineitem, scale {scale:g})", flush=True)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # Made aside and renamed, so that an interrupted run leaves no partial file to be reused.
    with tempfile.TemporaryDirectory(prefix=".tpchgen-", dir=DATA_DIR) as scratch:
        subprocess.run(
            [
                str(TPCHGEN),
                "csv",
                "--scale-factor",
                f"{scale:g}",
                "--tables",
                "lineitem",
                "--output-dir",
                scratch,
                "--quiet",
            ],
            check=True,
        )
        made = Path(scratch) / "lineitem.csv"
        check_header(made)
        shutil.move(made, path)
    return path


def check_header(path: Path) -> None:
    """SystemExit unless the file's first line names COLUMNS, comma-separated, in order."""
    with path.open(encoding="utf-8") as source:
        header = source.readline().rstrip("\r\n")
    if header.split(",") != list(COLUMNS):
        sys.exit(f"{path}: header {header!r}, expected {','.join(COLUMNS)}")


# --- the jobs as text ------------------------------------------------------------------------


def tuskflow_spec(case: Case, csv: Path, out: Path) -> dict[str, Any]:
    """The job as a tuskflow spec: CSV in, Parquet out into the folder ``out``."""
    transforms: list[dict[str, Any]] = []
    if case.where is not None:
        transforms.append({"op": "filter", "where": case.where})
    transforms.append(
        {"op": "aggregate", "by": list(case.keys), "aggregations": dict(case.aggregations)}
    )
    if case.ordered:
        transforms.append({"op": "sort", "by": list(case.keys)})
    return {
        "version": 1,
        "name": f"bench-etl-{case.name}",
        "source": {"format": "csv", "path": str(csv), "columns": dict(COLUMNS)},
        "transforms": transforms,
        "sink": {"kind": "parquet", "path": str(out)},
    }


def duckdb_sql(case: Case, csv: Path, out_file: Path) -> str:
    """The job as one DuckDB statement: read_csv with the columns' types, the query, COPY to
    the Parquet file ``out_file``."""
    columns = ", ".join(
        f"{_literal(name)}: '{DUCKDB_TYPES[kind]}'" for name, kind in COLUMNS.items()
    )
    source = f"read_csv({_literal(str(csv))}, header = true, delim = ',', columns = {{{columns}}})"
    keys = ", ".join(case.keys)
    selected = ",\n  ".join(
        [*case.keys, *(f"{sql} AS {name}" for name, sql in case.aggregations.items())]
    )
    query = f"SELECT\n  {selected}\nFROM {source}"
    if case.where is not None:
        query += f"\nWHERE {case.where}"
    query += f"\nGROUP BY {keys}"
    if case.ordered:
        query += f"\nORDER BY {keys}"
    return f"COPY (\n{query}\n) TO {_literal(str(out_file))} (FORMAT parquet)"


def _literal(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
