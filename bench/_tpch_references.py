"""The ETL benchmark's TPC-H reference jobs (see ``_tpch_cases``), by DuckDB and Polars.

Each runs in a process of its own, so that its memory is its own:

    python bench/_tpch_references.py TOOL CASE CSV OUT

which writes the job's result as Parquet into the folder OUT and prints one JSON line:
``{"tool": ..., "case": ..., "import_s": ..., "job_s": ...}``, the seconds spent importing the
tool and running the job. Each tool is imported by its own job only; both read the CSV with the
columns' types given, as tuskflow's spec gives them.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from _tpch_cases import CASES, COLUMNS, Case, duckdb_sql

OUTPUT_FILE = "part-0.parquet"
Q1_CUTOFF = date(1998, 12, 1) - timedelta(days=90)


def duckdb_job(case: Case, csv: Path, out: Path) -> dict[str, float]:
    """DuckDB on an in-memory database, its default threads: the case's SQL, one COPY."""
    started = time.perf_counter()
    import duckdb  # noqa: PLC0415

    imported = time.perf_counter()
    with duckdb.connect() as con:
        con.execute(duckdb_sql(case, csv, out / OUTPUT_FILE))
    return {"import_s": imported - started, "job_s": time.perf_counter() - imported}


def polars_job(case: Case, csv: Path, out: Path) -> dict[str, float]:
    """Polars: a lazy scan with the columns' types, the case's query, collected, then written."""
    started = time.perf_counter()
    import polars as pl  # noqa: PLC0415

    imported = time.perf_counter()
    types = {"int": pl.Int64, "float": pl.Float64, "string": pl.String, "date": pl.Date}
    lineitem = pl.scan_csv(csv, schema={name: types[kind] for name, kind in COLUMNS.items()})
    result = POLARS_QUERIES[case.name](pl, lineitem).collect()
    result.write_parquet(out / OUTPUT_FILE)
    return {"import_s": imported - started, "job_s": time.perf_counter() - imported}


def _polars_q1(pl: Any, lineitem: Any) -> Any:
    """TPC-H query 1 as a Polars lazy frame."""
    quantity, price = pl.col("l_quantity"), pl.col("l_extendedprice")
    discount, tax = pl.col("l_discount"), pl.col("l_tax")
    disc_price = price * (1 - discount)
    keys = ["l_returnflag", "l_linestatus"]
    return (
        lineitem.filter(pl.col("l_shipdate") <= Q1_CUTOFF)
        .group_by(keys)
        .agg(
            quantity.sum().alias("sum_qty"),
            price.sum().alias("sum_base_price"),
            disc_price.sum().alias("sum_disc_price"),
            (disc_price * (1 + tax)).sum().alias("sum_charge"),
            quantity.mean().alias("avg_qty"),
            price.mean().alias("avg_price"),
            discount.mean().alias("avg_disc"),
            pl.len().alias("count_order"),
        )
        .sort(keys)
    )


def _polars_small(pl: Any, lineitem: Any) -> Any:
    """The small job as a Polars lazy frame."""
    return lineitem.group_by(["l_shipmode", "l_returnflag"]).agg(
        pl.col("l_quantity").sum().alias("sum_qty"),
        pl.col("l_extendedprice").sum().alias("sum_base_price"),
        pl.col("l_discount").mean().alias("avg_disc"),
        pl.len().alias("count_order"),
    )


# Polars is passed in, imported by polars_job alone; its frames carry no type hints here.
POLARS_QUERIES: dict[str, Callable[[Any, Any], Any]] = {
    "tpch-q1": _polars_q1,
    "small": _polars_small,
}

JOBS: dict[str, Callable[[Case, Path, Path], dict[str, float]]] = {
    "duckdb": duckdb_job,
    "polars": polars_job,
}


def main(argv: list[str]) -> None:
    """Run one tool's job: ``TOOL CASE CSV OUT``."""
    if len(argv) != 4 or argv[0] not in JOBS or argv[1] not in CASES:
        sys.exit(f"usage: _tpch_references.py {{{','.join(JOBS)}}} {{{','.join(CASES)}}} CSV OUT")
    tool, case, csv, out = argv[0], CASES[argv[1]], Path(argv[2]), Path(argv[3])
    out.mkdir(parents=True, exist_ok=True)
    times = JOBS[tool](case, csv, out)
    report = {"tool": tool, "case": case.name, **{k: round(v, 4) for k, v in times.items()}}
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
