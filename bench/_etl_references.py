"""The ETL benchmark's reference jobs: one job written plainly with pandas, dask.dataframe,
DuckDB and Polars.

The job: read the sales CSV, keep ``quantity > 0``, derive ``revenue = quantity * unit_price *
(1 - discount)``, group by region and category into ``revenue`` (its sum) and ``orders`` (the
row count), and write Parquet into the folder OUT.

Each tool runs in a process of its own, so that its memory is its own:

    python bench/_etl_references.py TOOL CSV OUT

which prints one JSON line: ``{"tool": ..., "import_s": ..., "setup_s": ..., "job_s": ...}``,
the seconds spent importing the tool, starting it (the Dask cluster) and running the job.
Each tool is imported by its own job only.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

OUTPUT_FILE = "part-0.parquet"
DASK_WORKERS = 2
GROUP_BY = ["region", "category"]


def pandas_job(csv: Path, out: Path) -> dict[str, float]:
    """pandas with the pyarrow CSV reader, everything in memory."""
    started = time.perf_counter()
    import pandas as pd  # noqa: PLC0415

    imported = time.perf_counter()
    frame = pd.read_csv(csv, engine="pyarrow")
    frame = frame[frame["quantity"] > 0]
    frame["revenue"] = frame["quantity"] * frame["unit_price"] * (1 - frame["discount"])
    result = frame.groupby(GROUP_BY, as_index=False).agg(
        revenue=("revenue", "sum"), orders=("revenue", "count")
    )
    result.to_parquet(out / OUTPUT_FILE, index=False)
    return {"import_s": imported - started, "setup_s": 0.0, "job_s": time.perf_counter() - imported}


def dask_job(csv: Path, out: Path) -> dict[str, float]:
    """dask.dataframe with its defaults on a LocalCluster of two single-thread processes."""
    started = time.perf_counter()
    import dask.dataframe as dd  # noqa: PLC0415
    from distributed import Client, LocalCluster  # noqa: PLC0415

    imported = time.perf_counter()
    # distributed's constructors carry no annotations.
    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=DASK_WORKERS, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, Client(cluster):  # type: ignore[no-untyped-call]
        ready = time.perf_counter()
        frame = dd.read_csv(str(csv))
        frame = frame[frame["quantity"] > 0]
        frame = frame.assign(
            revenue=frame["quantity"] * frame["unit_price"] * (1 - frame["discount"])
        )
        result = frame.groupby(GROUP_BY).agg(
            revenue=("revenue", "sum"), orders=("revenue", "count")
        )
        result.reset_index().to_parquet(str(out), write_index=False)
        done = time.perf_counter()
    return {"import_s": imported - started, "setup_s": ready - imported, "job_s": done - ready}


def duckdb_job(csv: Path, out: Path) -> dict[str, float]:
    """DuckDB's relational API on an in-memory database, its default threads."""
    started = time.perf_counter()
    import duckdb  # noqa: PLC0415

    imported = time.perf_counter()
    with duckdb.connect() as con:
        sales = con.read_csv(str(csv))
        result = sales.filter("quantity > 0").aggregate(
            "region, category, sum(quantity * unit_price * (1 - discount)) AS revenue,"
            " count(*) AS orders",
            "region, category",
        )
        result.write_parquet(str(out / OUTPUT_FILE))
    return {"import_s": imported - started, "setup_s": 0.0, "job_s": time.perf_counter() - imported}


def polars_job(csv: Path, out: Path) -> dict[str, float]:
    """Polars: a lazy scan, collected, then written."""
    started = time.perf_counter()
    import polars as pl  # noqa: PLC0415

    imported = time.perf_counter()
    quantity, price, discount = pl.col("quantity"), pl.col("unit_price"), pl.col("discount")
    result = (
        pl.scan_csv(csv)
        .filter(quantity > 0)
        .with_columns((quantity * price * (1 - discount)).alias("revenue"))
        .group_by(GROUP_BY)
        .agg(pl.col("revenue").sum(), pl.len().alias("orders"))
        .collect()
    )
    result.write_parquet(out / OUTPUT_FILE)
    return {"import_s": imported - started, "setup_s": 0.0, "job_s": time.perf_counter() - imported}


JOBS: dict[str, Callable[[Path, Path], dict[str, float]]] = {
    "pandas": pandas_job,
    "dask": dask_job,
    "duckdb": duckdb_job,
    "polars": polars_job,
}


def main(argv: list[str]) -> None:
    """Run one tool's job: ``TOOL CSV OUT``."""
    if len(argv) != 3 or argv[0] not in JOBS:
        sys.exit(f"usage: _etl_references.py {{{','.join(JOBS)}}} CSV OUT")
    tool, csv, out = argv[0], Path(argv[1]), Path(argv[2])
    out.mkdir(parents=True, exist_ok=True)
    times = JOBS[tool](csv, out)
    print(json.dumps({"tool": tool, **{k: round(v, 4) for k, v in times.items()}}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
