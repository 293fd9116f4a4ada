"""Benchmark: one ETL job on a 5-million-row sales CSV by tuskflow, pandas, dask.dataframe,
DuckDB and Polars.

Run it with the local services up (tuskflow's side needs Redis and PostgreSQL):

    make up && .venv/bin/python bench/bench_etl.py [--runs 3] [--tools pandas,duckdb,...]

``make bench`` runs it with every other bench/bench_*.py. The CSV (about 290 MB, seed 7) is
made by examples/generate_sales.py under .tuskflow/bench-data/ when it is missing, and read
once before any clock starts, so that every tool finds it in the page cache.

The job: keep ``quantity > 0``, derive ``revenue = quantity * unit_price * (1 - discount)``,
group by region and category into the sum of revenue and the row count, write Parquet.

- The references (``_etl_references``: pandas with engine="pyarrow", a plain dask.dataframe
  on a LocalCluster of two single-thread worker processes, DuckDB, Polars) each run as a
  process of its own, in an order rotating with the run. Wall time is from its spawn to its
  exit, imports and the Dask cluster's start included; the seconds it spent importing,
  starting and running the job are shown apart.
- tuskflow (``_tuskflow_cluster``): a Dask scheduler, two ``dask worker --nthreads 1`` and a
  ``celery -A tuskflow.tasks worker`` are started off the clock, and one untimed warm-up job
  lets them import the engine, as a running deployment has; wall time is from ``submit`` to
  the end of ``wait``. Then again with one Dask worker, for the scaling ratio.

Peak memory is the largest sum of the PSS (see TreeSampler) of every process of the tree (the
reference's process and its children; for tuskflow the scheduler, the workers and the Celery
worker, idle memory included), sampled every SAMPLE_S. Each output is read back off the clock and
compared with the first one: a mismatch, or a tuskflow job that fails, is printed and the run
exits 1. Nothing here asserts a time.

tuskflow's jobs are recorded in schema tf_etl_bench (recreated, dropped at the end) and queued
on Redis database REDIS_DB of the services' Redis (emptied first and at the end), so that no
other worker on the same Redis takes them. A full run takes two to three minutes on two cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg
import pyarrow.dataset as ds
import redis
from _report import Row, drop_schema, median, print_summary, progress, with_search_path
from _tuskflow_cluster import (
    ClusterError,
    NotReadyError,
    TuskflowApi,
    local_services_env,
    log_tail,
    running_cluster,
    submit_and_wait,
    tuskflow_api,
)
from psycopg import sql

from tuskflow.etl.spec import parse_spec
from tuskflow.eventstore import migrate

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "examples" / "generate_sales.py"
REFERENCES = Path(__file__).resolve().with_name("_etl_references.py")
DATA_DIR = ROOT / ".tuskflow" / "bench-data"
SCHEMA = "tf_etl_bench"
REDIS_DB = 14  # the bench's own broker database on the services' Redis, emptied by every run
_SERVICES = ("TUSKFLOW_DATABASE_URL", "TUSKFLOW_REDIS_URL")

ROWS = 5_000_000
SEED = 7
RUNS = 3
# Reading one process's PSS costs the kernel about 2 ms of CPU; every 20 ms over the five
# processes of tuskflow's side would take half a core from the job being measured.
SAMPLE_S = 0.1
JOB_TIMEOUT_S = 600.0
REL_TOL = 1e-9
SHOWN_DIFFERENCES = 5

TOOLS = ("pandas", "dask", "duckdb", "polars", "tuskflow")
REFERENCE_TOOLS = TOOLS[:4]
# The figures for the references on this machine: wall seconds, peak MB.
ANCHORS = {"pandas": (4.8, 1300), "dask": (11.4, 1600), "duckdb": (2.5, 330), "polars": (2.5, 620)}

DUCKDB_TARGET = 1.5
PANDAS_TARGET = 1.5
DASK_TARGET = 2.5
MEMORY_TARGET = 0.5
SCALING_TARGET = 1.6

COLUMNS = {
    "order_id": "int",
    "order_date": "date",
    "region": "string",
    "store_id": "int",
    "product": "string",
    "category": "string",
    "quantity": "int",
    "unit_price": "float",
    "discount": "float",
}


# --- measuring -------------------------------------------------------------------------------


class TreeSampler:
    """The peak of the summed PSS of some processes and all their descendants, sampled every
    SAMPLE_S in a thread.

    PSS, not RSS: RSS counts a page shared by several processes once in each of them (a Celery
    prefork child shares most of its pages with its parent, every Python process maps the same
    libraries), so a sum of RSS overstates any tool made of several processes. PSS gives each
    sharer its share, so the sum is what the tool occupies; for one process it is its RSS less
    its share of libraries mapped elsewhere too."""

    def __init__(self, roots: Sequence[psutil.Process]) -> None:
        self.roots = list(roots)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        """The largest sum seen, in MB."""
        return self.peak / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_pss(self.roots))
            self._stop.wait(SAMPLE_S)


def tree_pss(roots: Sequence[psutil.Process]) -> int:
    """The PSS of the roots and all their descendants, in bytes; vanished ones count 0."""
    total = 0
    for root in roots:
        try:
            members = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for member in members:
            with contextlib.suppress(psutil.Error):
                total += member.memory_full_info().pss
    return total


@dataclass(frozen=True)
class Run:
    """One run of one tool: wall seconds, peak MB, and where the time went inside it."""

    wall_s: float
    peak_mb: float
    inside: dict[str, float] = field(default_factory=dict)


def run_reference(tool: str, csv: Path, out: Path) -> Run:
    """One reference job in a process of its own, watched from spawn to exit."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(REFERENCES), tool, str(csv), str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with TreeSampler([psutil.Process(process.pid)]) as sampler:
        stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        tail = "\n".join(stderr.splitlines()[-20:])
        sys.exit(f"{tool} failed ({process.returncode}):\n{tail}")
    report = _last_json(stdout)
    inside = {k: float(v) for k, v in report.items() if k.endswith("_s")}
    return Run(wall, sampler.peak_mb, inside)


def _last_json(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    parsed: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    return parsed


# --- the results -----------------------------------------------------------------------------


Aggregates = dict[tuple[str, str], tuple[float, int]]


@dataclass
class Verdicts:
    """Each output compared with the first one read."""

    expected: Aggregates | None = None
    first: str = ""
    mismatches: list[str] = field(default_factory=list)

    def check(self, label: str, out: Path) -> None:
        """Read ``out`` and compare it; the first output read becomes the expectation."""
        try:
            got = read_aggregates(out)
        except (OSError, KeyError, ValueError) as exc:
            self.mismatches.append(f"{label}: output unreadable: {type(exc).__name__}: {exc}")
            return
        if self.expected is None:
            self.expected, self.first = got, label
            return
        found = differences(self.expected, got)
        if found:
            self.mismatches.append(f"{label} differs from {self.first}:")
            self.mismatches += [f"    {line}" for line in found[:SHOWN_DIFFERENCES]]
            if len(found) > SHOWN_DIFFERENCES:
                self.mismatches.append(f"    ... and {len(found) - SHOWN_DIFFERENCES} more")


def read_aggregates(out: Path) -> Aggregates:
    """(region, category) -> (revenue, orders) from a Parquet file or folder."""
    names = ["region", "category", "revenue", "orders"]
    table = ds.dataset(out, format="parquet", partitioning="hive").to_table(columns=names)
    rows = zip(*(table.column(name).to_pylist() for name in names), strict=True)
    return {(str(r), str(c)): (float(revenue), int(orders)) for r, c, revenue, orders in rows}


def differences(expected: Aggregates, got: Aggregates) -> list[str]:
    """Every group missing, extra or with other numbers."""
    found = [f"group {key} missing" for key in sorted(expected.keys() - got.keys())]
    found += [f"group {key} unexpected" for key in sorted(got.keys() - expected.keys())]
    for key in sorted(expected.keys() & got.keys()):
        (revenue, orders), (other_revenue, other_orders) = expected[key], got[key]
        if orders != other_orders or not math.isclose(revenue, other_revenue, rel_tol=REL_TOL):
            found.append(
                f"{key}: revenue {other_revenue!r} orders {other_orders}"
                f" (expected {revenue!r}, {orders})"
            )
    return found


# --- the data --------------------------------------------------------------------------------


def sales_csv(rows: int) -> Path:
    """The benchmark's CSV, made first if missing."""
    path = DATA_DIR / f"sales-{rows}-seed{SEED}.csv"
    if not path.exists():
        progress(f"making {path.relative_to(ROOT)} ({rows:,} rows, seed {SEED})")
        argv = [sys.executable, str(GENERATOR), "--rows", str(rows), "--out", str(path)]
        subprocess.run([*argv, "--seed", str(SEED)], check=True)
    return path


def warm(path: Path) -> None:
    """Read the file once, so that every tool finds it in the page cache."""
    with path.open("rb") as source:
        while source.read(1 << 24):
            pass


# --- the references --------------------------------------------------------------------------


def bench_references(
    tools: Sequence[str], csv: Path, runs: int, work: Path, verdicts: Verdicts
) -> dict[str, list[Run]]:
    """``runs`` rounds over the reference tools, in an order rotating with the round."""
    found: dict[str, list[Run]] = {tool: [] for tool in tools}
    for round_no in range(runs):
        shift = round_no % len(tools)
        for tool in [*tools[shift:], *tools[:shift]]:
            out = work / f"{tool}-{round_no}"
            run = run_reference(tool, csv, out)
            found[tool].append(run)
            verdicts.check(tool, out)
            shutil.rmtree(out, ignore_errors=True)
            progress(
                f"      round {round_no + 1}/{runs}: {tool:<8} {run.wall_s:6.2f} s"
                f"  peak {run.peak_mb:7,.0f} MB  ({_inside_text(run)})"
            )
    return found


def _inside_text(run: Run) -> str:
    parts = [(k.removesuffix("_s"), v) for k, v in run.inside.items() if v > 0]
    return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in parts) or "-"


# --- tuskflow --------------------------------------------------------------------------------


def bench_spec(csv: Path, out: Path) -> dict[str, Any]:
    """The job as a tuskflow spec, with absolute paths."""
    spec: dict[str, Any] = {
        "version": 1,
        "name": "bench-etl-sales",
        "source": {"format": "csv", "path": str(csv), "columns": COLUMNS},
        "transforms": [
            {"op": "filter", "where": "quantity > 0"},
            {"op": "derive", "column": "revenue", "expr": "quantity * unit_price * (1 - discount)"},
            {
                "op": "aggregate",
                "by": ["region", "category"],
                "aggregations": {
                    "revenue": {"fn": "sum", "column": "revenue"},
                    "orders": {"fn": "count"},
                },
            },
        ],
        "sink": {"kind": "parquet", "path": str(out)},
    }
    parse_spec(spec)  # refuses a spec that has drifted from etl/spec.py before any process starts
    return spec


@dataclass(frozen=True)
class TuskflowSetup:
    """What the tuskflow runs need: the API, the services' environment, where to put things."""

    api: TuskflowApi
    env: dict[str, str]
    csv: Path
    work: Path


def run_tuskflow(setup: TuskflowSetup, workers: int, runs: int, verdicts: Verdicts) -> list[Run]:
    """``runs`` jobs, one after the other, on a fresh cluster of ``workers`` Dask workers."""
    label = f"tuskflow, {workers} worker" + ("s" if workers > 1 else "")
    logs = setup.work / f"logs-{workers}w"
    logs.mkdir()
    found = []
    with running_cluster(workers, setup.env, logs) as cluster:
        warm_up = setup.work / f"tuskflow-{workers}w-warm-up"
        submit_and_wait(setup.api, bench_spec(setup.csv, warm_up), JOB_TIMEOUT_S)
        shutil.rmtree(warm_up, ignore_errors=True)
        for run_no in range(runs):
            out = setup.work / f"tuskflow-{workers}w-{run_no}"
            spec = bench_spec(setup.csv, out)
            with TreeSampler(cluster.roots) as sampler:
                started = time.perf_counter()
                try:
                    submit_and_wait(setup.api, spec, JOB_TIMEOUT_S)
                except ClusterError as exc:
                    raise ClusterError(f"{exc}{log_tail(logs / 'celery-worker.log')}") from None
                wall = time.perf_counter() - started
            run = Run(wall, sampler.peak_mb)
            found.append(run)
            verdicts.check(label, out)
            shutil.rmtree(out, ignore_errors=True)
            progress(
                f"      run {run_no + 1}/{runs}: {label:<20} {wall:6.2f} s"
                f"  peak {run.peak_mb:7,.0f} MB (scheduler, workers, Celery worker)"
            )
    return found


def bench_tuskflow(
    csv: Path, runs: int, work: Path, verdicts: Verdicts
) -> tuple[list[Run], list[Run]]:
    """tuskflow on two single-thread Dask workers, then on one; empty if it cannot run yet,
    ClusterError if it fails."""
    try:
        api = tuskflow_api()
    except NotReadyError as exc:
        progress(f"      tuskflow skipped: {exc}")
        return [], []
    services = _tuskflow_variables(os.environ)
    if not set(_SERVICES) <= services.keys():
        try:
            services = {**local_services_env(), **services}
        except ClusterError as exc:
            raise ClusterError(f"no services: {exc}") from None
    missing = [name for name in _SERVICES if name not in services]
    if missing:
        raise ClusterError(f"{' and '.join(missing)} not set, and `tuskflow local env` names none")
    base_url = services["TUSKFLOW_DATABASE_URL"]
    url = with_search_path(base_url, SCHEMA)
    broker = own_redis_db(services["TUSKFLOW_REDIS_URL"])
    fresh_schema(base_url, url)
    env = {**os.environ, **services, "TUSKFLOW_DATABASE_URL": url, "TUSKFLOW_REDIS_URL": broker}
    setup = TuskflowSetup(api, env, csv, work)
    os.environ.update(setup.env)  # submit() in this process uses the same schema and queue
    try:
        two = run_tuskflow(setup, 2, runs, verdicts)
        one = run_tuskflow(setup, 1, runs, verdicts)
    finally:
        drop_schema(base_url, SCHEMA)
        flush(broker)
    return two, one


def own_redis_db(url: str) -> str:
    """``url`` on the bench's own Redis database, emptied: no other worker sharing the Redis
    server takes the bench's jobs, and no leftover message reaches the bench's worker."""
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss"}:
        raise ClusterError(f"the bench needs a redis:// or rediss:// TUSKFLOW_REDIS_URL, not {url}")
    own = urlunsplit(parts._replace(path=f"/{REDIS_DB}"))
    flush(own)
    return own


def flush(url: str) -> None:
    """Empty the Redis database of ``url``."""
    with redis.Redis.from_url(url) as client:
        client.flushdb()


def _tuskflow_variables(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in environ.items() if name.startswith("TUSKFLOW_")}


def fresh_schema(base_url: str, url: str) -> None:
    """Recreate the bench schema and migrate it: an empty job history."""
    drop_schema(base_url, SCHEMA)
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
    migrate(url)


# --- reporting -------------------------------------------------------------------------------


def print_table(results: dict[str, list[Run]]) -> None:
    """Per tool: median wall (min-max), median peak, the median split inside, the anchor."""
    print()
    print(f"{'tool':<22} {'wall s (min-max)':<20} {'peak MB':>8}  {'anchor':<16} inside")
    for tool, runs in results.items():
        if not runs:
            print(f"{tool:<22} n/a")
            continue
        walls = [r.wall_s for r in runs]
        wall = f"{median(walls):.2f} ({min(walls):.2f}-{max(walls):.2f})"
        anchor = ANCHORS.get(tool)
        anchor_text = f"{anchor[0]} s / {anchor[1]:,} MB" if anchor else "-"
        keys = runs[0].inside.keys()
        inside = Run(0, 0, {k: median([r.inside[k] for r in runs]) for k in keys})
        peak = median([r.peak_mb for r in runs])
        print(f"{tool:<22} {wall:<20} {peak:>8,.0f}  {anchor_text:<16} {_inside_text(inside)}")


@dataclass(frozen=True)
class Ratio:
    """One line of the summary: ``ours`` against ``reference`` on a metric, and the target."""

    measure: str
    ours: str
    reference: str
    metric: str  # "wall" or "peak"
    at_most: float | None = None
    at_least: float | None = None
    inverted: bool = False  # the ratio is reference / ours


TWO_WORKERS, ONE_WORKER = "tuskflow, 2 workers", "tuskflow, 1 worker"
RATIOS = (
    Ratio("tuskflow / DuckDB, wall", TWO_WORKERS, "duckdb", "wall", at_most=DUCKDB_TARGET),
    Ratio(
        "pandas / tuskflow, wall",
        TWO_WORKERS,
        "pandas",
        "wall",
        at_least=PANDAS_TARGET,
        inverted=True,
    ),
    Ratio(
        "dask / tuskflow, wall", TWO_WORKERS, "dask", "wall", at_least=DASK_TARGET, inverted=True
    ),
    Ratio("tuskflow / pandas, peak memory", TWO_WORKERS, "pandas", "peak", at_most=MEMORY_TARGET),
    Ratio(
        "tuskflow 1 worker / 2 workers, wall",
        ONE_WORKER,
        TWO_WORKERS,
        "wall",
        at_least=SCALING_TARGET,
    ),
)


def summary_rows(results: dict[str, list[Run]]) -> list[Row]:
    """The ratios against their targets; n/a where a side did not run."""
    medians = {
        "wall": _medians(results, lambda r: r.wall_s),
        "peak": _medians(results, lambda r: r.peak_mb),
    }
    return [_row(ratio, medians[ratio.metric]) for ratio in RATIOS]


def _medians(results: dict[str, list[Run]], of: Callable[[Run], float]) -> dict[str, float]:
    return {tool: median([of(r) for r in runs]) for tool, runs in results.items() if runs}


def _row(ratio: Ratio, medians: dict[str, float]) -> Row:
    ours, reference = medians.get(ratio.ours), medians.get(ratio.reference)
    unit = "s" if ratio.metric == "wall" else "MB"
    target = f"<= {ratio.at_most}" if ratio.at_most is not None else f">= {ratio.at_least}"
    shown = (_quantity(ours, unit), _quantity(reference, unit))
    if ours is None or reference is None:
        return Row(ratio.measure, *shown, math.nan, target, None)
    value = reference / ours if ratio.inverted else ours / reference
    met = (ratio.at_most is None or value <= ratio.at_most) and (
        ratio.at_least is None or value >= ratio.at_least
    )
    return Row(ratio.measure, *shown, value, target, met)


def _quantity(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f} s" if unit == "s" else f"{value:,.0f} MB"


def print_environment(csv: Path) -> None:
    """What the numbers were measured on."""
    versions = []
    for name in ("pandas", "dask", "duckdb", "polars", "pyarrow"):
        try:
            versions.append(f"{name} {_version(name)}")
        except ImportError:
            versions.append(f"{name} missing")
    print(f"cores: {os.cpu_count()}   Python {platform.python_version()}   {'   '.join(versions)}")
    size = csv.stat().st_size / 1e6
    print(
        f"data: {csv.relative_to(ROOT)} ({size:,.0f} MB), PSS sampled every {SAMPLE_S * 1e3:.0f} ms"
    )


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version(name)
    except PackageNotFoundError:
        raise ImportError(name) from None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help=f"runs per tool (default {RUNS})")
    parser.add_argument("--rows", type=int, default=ROWS, help=f"CSV rows (default {ROWS:,})")
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help=f"a comma list of {', '.join(TOOLS)} (default all)"
    )
    args = parser.parse_args(argv)
    args.tools = [tool.strip() for tool in args.tools.split(",") if tool.strip()]
    unknown = set(args.tools) - set(TOOLS)
    if unknown or not args.tools or args.runs < 1:
        parser.error(f"--runs at least 1; --tools among {', '.join(TOOLS)}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Make the data, run every tool, print the table and the ratios; exit 1 on a mismatch."""
    args = parse_args(argv)
    started = time.perf_counter()
    csv = sales_csv(args.rows)
    print_environment(csv)
    warm(csv)
    verdicts = Verdicts()
    results: dict[str, list[Run]] = {}
    failure = ""
    references = [tool for tool in REFERENCE_TOOLS if tool in args.tools]
    with tempfile.TemporaryDirectory(prefix="tf-bench-etl-") as scratch:
        work = Path(scratch)
        if references:
            progress(f"[1/2] references, {args.runs} rounds in rotating order: {references}")
            results |= bench_references(references, csv, args.runs, work, verdicts)
        if "tuskflow" in args.tools:
            progress(f"[2/2] tuskflow, {args.runs} run(s) on 2 single-thread Dask workers, then 1")
            try:
                two, one = bench_tuskflow(csv, args.runs, work, verdicts)
            except ClusterError as exc:
                two, one, failure = [], [], f"{exc}"
            results |= {TWO_WORKERS: two, ONE_WORKER: one}
    print_table(results)
    print_summary(summary_rows(results))
    print(f"\nfull run: {time.perf_counter() - started:.0f} s")
    finish(verdicts, failure)


def finish(verdicts: Verdicts, failure: str) -> None:
    """Say loudly what went wrong and exit 1, or say that every output matched."""
    if failure:
        print(f"\n!!! TUSKFLOW FAILED: {failure}")
    if verdicts.mismatches:
        print("\n!!! RESULTS DIFFER: the timings above compare different answers !!!")
        print("\n".join(verdicts.mismatches))
    if failure or verdicts.mismatches:
        sys.exit(1)
    if verdicts.first:
        print(f"every output matched the aggregates of {verdicts.first}")


if __name__ == "__main__":
    main()
