"""Benchmark: ETL jobs by tuskflow and by DuckDB, Polars, pandas and dask.dataframe, side by side.

Run it with the local services up (tuskflow's side needs Redis and PostgreSQL):

    make up && .venv/bin/python bench/bench_etl.py [--runs 3] [--cases sales,tpch-q1,small]
        [--tools pandas,duckdb,...]

``make bench`` runs it with every other bench/bench_*.py. Three cases, each on a CSV made under
.tuskflow/bench-data/ when it is missing and read once before any clock starts, so that every
tool finds it in the page cache:

- ``sales``: a 5-million-row sales CSV (below), by every tool.
- ``tpch-q1``: TPC-H query 1 on lineitem at scale factor 1 (6M rows, 16 columns, 766 MB), and
  ``small``: lineitem at scale factor 0.057 (342k rows) grouped by two keys; see _tpch_cases.
  Both by DuckDB, Polars and tuskflow only, in the same rounds (see ``bench_tpch``).

The sales case
--------------

The CSV (about 290 MB, seed 7) is made by examples/generate_sales.py. The job: keep
``quantity > 0``, derive ``revenue = quantity * unit_price * (1 - discount)``, group by region
and category into the sum of revenue and the row count, write Parquet.

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

The TPC-H cases
---------------

Measured as a user meets them: every run is a process of its own, timed from its spawn to its
exit. DuckDB and Polars run ``_tpch_references``; tuskflow runs ``tuskflow submit SPEC --wait``
(the console script) against a warm cluster of a Dask scheduler, TPCH_WORKERS single-thread
Dask workers and a Celery worker, started off the clock as for the sales case, with the same
TUSKFLOW_* environment as the cluster. First every tool runs every case once off the clock
(DuckDB first: its output is what every later output is held to; the cluster imports the
engine), then RUNS rounds, each running every case by every tool, the tools' order rotating
with the round. A tool's peak is the largest sum of the PSS of its process and children; for
tuskflow, of the CLI's process and of the cluster's processes, whose idle footprint is printed
apart too. tuskflow's seconds are split by its job's events (recorded by PostgreSQL on this
machine's clock): spawn to JobSubmitted (the CLI's start and the spec's validation), to
JobStarted (queueing and planning), to JobPublishing (the partitions), to JobSucceeded, to the
CLI's exit. Every output is read back off the clock: the same groups as DuckDB's, each count
equal and every other aggregate within REL_TOL relative, or the run exits 1.

tuskflow's jobs are recorded in schema tf_etl_bench (recreated, dropped at the end) and queued
on Redis database REDIS_DB of the services' Redis (emptied first and at the end), so that no
other worker on the same Redis takes them. The sales case takes two to three minutes on two
cores, the TPC-H cases about as long.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg
import pyarrow.dataset as ds
import redis
from _report import Row, drop_schema, median, print_summary, progress, with_search_path
from _tpch_cases import CASES, Case, lineitem_csv, tuskflow_spec
from _tuskflow_cluster import (
    BIN,
    Cluster,
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
TPCH_REFERENCES = Path(__file__).resolve().with_name("_tpch_references.py")
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

CASE_NAMES = ("sales", *CASES)
TPCH_TOOLS = ("duckdb", "polars", "tuskflow")
TPCH_WORKERS = 2  # single-thread Dask workers, one per core of the machine the targets are for
# The targets: tuskflow's median wall over DuckDB's, per case.
TPCH_TARGETS = {"tpch-q1": 1.2, "small": 1.5}
IDLE_SAMPLES = 10
SUBMITTED = re.compile(r"submitted job (\w+)")
# The events that end each phase of a `tuskflow submit --wait`, with the phase's name.
PHASES = (
    ("submit_s", "JobSubmitted"),
    ("plan_s", "JobStarted"),
    ("partitions_s", "JobPublishing"),
    ("publish_s", "JobSucceeded"),
)

SALES_COLUMNS = {
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
    """One run of one tool: wall seconds, peak MB, where the time went inside it, and for a
    tuskflow job submitted from the command line its id."""

    wall_s: float
    peak_mb: float
    inside: dict[str, float] = field(default_factory=dict)
    job_id: str = ""


def run_reference(tool: str, csv: Path, out: Path) -> Run:
    """One reference job of the sales case in a process of its own, watched from spawn to exit."""
    return run_watched([sys.executable, str(REFERENCES), tool, str(csv), str(out)], tool)


def run_watched(argv: Sequence[str], label: str) -> Run:
    """``argv`` in a process of its own, watched from spawn to exit; its last JSON line's
    ``*_s`` numbers are where its time went. SystemExit, with its stderr's end, if it fails."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    with TreeSampler([psutil.Process(process.pid)]) as sampler:
        stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"{label} failed ({process.returncode}):\n{_tail(stderr)}")
    report = _last_json(stdout)
    inside = {k: float(v) for k, v in report.items() if k.endswith("_s")}
    return Run(wall, sampler.peak_mb, inside)


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _last_json(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    parsed: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    return parsed


# --- the results -----------------------------------------------------------------------------


Groups = dict[tuple[Any, ...], dict[str, Any]]


@dataclass
class Verdicts:
    """Each output compared with the first one read: the same groups of ``keys``, and in each
    the same ``measures``, those named in ``exact`` equal, the others within REL_TOL relative."""

    keys: Sequence[str]
    measures: Sequence[str]
    exact: Sequence[str]
    expected: Groups | None = None
    first: str = ""
    mismatches: list[str] = field(default_factory=list)

    def check(self, label: str, out: Path) -> None:
        """Read ``out`` and compare it; the first output read becomes the expectation."""
        try:
            got = read_groups(out, self.keys, self.measures)
        except (OSError, KeyError, ValueError) as exc:
            self.mismatches.append(f"{label}: output unreadable: {type(exc).__name__}: {exc}")
            return
        if self.expected is None:
            self.expected, self.first = got, label
            return
        found = differences(self.expected, got, self.exact)
        if found:
            self.mismatches.append(f"{label} differs from {self.first}:")
            self.mismatches += [f"    {line}" for line in found[:SHOWN_DIFFERENCES]]
            if len(found) > SHOWN_DIFFERENCES:
                self.mismatches.append(f"    ... and {len(found) - SHOWN_DIFFERENCES} more")


def sales_verdicts() -> Verdicts:
    """The sales case's: (region, category) -> revenue, and orders counted exactly."""
    return Verdicts(("region", "category"), ("revenue", "orders"), ("orders",))


def read_groups(out: Path, keys: Sequence[str], measures: Sequence[str]) -> Groups:
    """keys -> {measure: value} from a Parquet file or folder; ValueError if a group repeats."""
    names = [*keys, *measures]
    table = ds.dataset(out, format="parquet", partitioning="hive").to_table(columns=names)
    groups: Groups = {}
    for row in zip(*(table.column(name).to_pylist() for name in names), strict=True):
        groups[tuple(row[: len(keys)])] = dict(zip(measures, row[len(keys) :], strict=True))
    if len(groups) != table.num_rows:
        raise ValueError(f"{table.num_rows} rows for {len(groups)} groups")
    return groups


def differences(expected: Groups, got: Groups, exact: Sequence[str]) -> list[str]:
    """Every group missing, extra or with another value of a measure."""
    found = [f"group {key} missing" for key in sorted(expected.keys() - got.keys(), key=str)]
    found += [f"group {key} unexpected" for key in sorted(got.keys() - expected.keys(), key=str)]
    for key in sorted(expected.keys() & got.keys(), key=str):
        for name, value in expected[key].items():
            other = got[key][name]
            if not same_value(value, other, exactly=name in exact):
                found.append(f"{key}: {name} {other!r} (expected {value!r})")
    return found


def same_value(expected: Any, got: Any, *, exactly: bool) -> bool:
    """Whether ``got`` is ``expected``: null only as null, equal if ``exactly``, else within
    REL_TOL relative."""
    if expected is None or got is None:
        return expected is None and got is None
    if exactly:
        return bool(expected == got)
    return math.isclose(float(expected), float(got), rel_tol=REL_TOL)


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
        "source": {"format": "csv", "path": str(csv), "columns": SALES_COLUMNS},
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
    with bench_environment() as env:
        setup = TuskflowSetup(api, env, csv, work)
        two = run_tuskflow(setup, 2, runs, verdicts)
        one = run_tuskflow(setup, 1, runs, verdicts)
    return two, one


@contextlib.contextmanager
def bench_environment() -> Iterator[dict[str, str]]:
    """The environment of tuskflow's processes: the services' addresses, PostgreSQL's on the
    bench's own schema (recreated; dropped on exit), Redis's on the bench's own database
    (emptied, and again on exit). Set in this process too, so that submit(), wait() and
    history() here use the same. ClusterError if no services are known."""
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
    os.environ.update(env)
    try:
        yield env
    finally:
        drop_schema(base_url, SCHEMA)
        flush(broker)


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


# --- the TPC-H cases -------------------------------------------------------------------------


CaseResults = dict[str, dict[str, list[Run]]]  # case -> tool -> its timed runs


@dataclass
class TpchOutcome:
    """What the TPC-H cases found: the timed runs, the verdicts and tuskflow's failures per
    case, and the idle cluster's PSS in MB (None without tuskflow)."""

    results: CaseResults
    verdicts: dict[str, Verdicts]
    failures: dict[str, str]
    idle_mb: float | None


@dataclass
class TpchRounds:
    """What every run of a TPC-H case needs: the CSVs by case, scratch space, the warm cluster
    (None without tuskflow) and its logs; and what the runs found."""

    csvs: dict[str, Path]
    work: Path
    cluster: Cluster | None
    logs: Path
    verdicts: dict[str, Verdicts]
    failures: dict[str, str] = field(default_factory=dict)

    def run(self, tool: str, case: Case, label: str) -> Run | None:
        """One run of ``tool`` on ``case``, its output checked and removed; None for tuskflow
        without a cluster or once it failed on the case (the failure is kept)."""
        out = self.work / f"{case.name}-{tool}-{label.replace(' ', '-')}"
        csv = self.csvs[case.name]
        if tool != "tuskflow":
            argv = [sys.executable, str(TPCH_REFERENCES), tool, case.name, str(csv), str(out)]
            run: Run | None = run_watched(argv, f"{tool} on {case.name}")
        else:
            run = self._tuskflow(case, csv, out)
        if run is not None:
            self.verdicts[case.name].check(f"{tool} ({label})", out)
        shutil.rmtree(out, ignore_errors=True)
        return run

    def _tuskflow(self, case: Case, csv: Path, out: Path) -> Run | None:
        if self.cluster is None or case.name in self.failures:
            return None
        spec_file = self.work / f"{out.name}.json"
        spec_file.write_text(json.dumps(tuskflow_spec(case, csv, out), indent=2))
        try:
            return run_cli(spec_file, self.cluster, self.logs / "celery-worker.log")
        except ClusterError as exc:
            self.failures[case.name] = f"{case.name}: {exc}"
            return None


def run_cli(spec_file: Path, cluster: Cluster, worker_log: Path) -> Run:
    """``tuskflow submit SPEC --wait`` in a process of its own with the cluster's environment,
    timed from spawn to exit; its peak counts the cluster's processes too, and its time is
    split by the job's events. ClusterError, with the ends of its output and of the worker's
    log, unless it exits 0 having named its job."""
    spawned_at = time.time()
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(BIN / "tuskflow"), "submit", str(spec_file), "--wait"],
        cwd=ROOT,
        env=cluster.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with TreeSampler([psutil.Process(process.pid), *cluster.roots]) as sampler:
        try:
            stdout, stderr = process.communicate(timeout=JOB_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    named = SUBMITTED.search(stdout)
    if process.returncode != 0 or named is None:
        said = "\n".join(f"    {line}" for line in _tail(f"{stdout}\n{stderr}").splitlines())
        raise ClusterError(
            f"`tuskflow submit {spec_file.name} --wait` exited {process.returncode}:\n{said}"
            + log_tail(worker_log)
        )
    job_id = named.group(1)
    return Run(wall, sampler.peak_mb, job_phases(job_id, spawned_at, spawned_at + wall), job_id)


def job_phases(job_id: str, spawned_at: float, exited_at: float) -> dict[str, float]:
    """The seconds of each of PHASES, from the spawn (epoch seconds) through the job's events
    to the exit; a phase whose event is missing is left out, its time going to the next."""
    from tuskflow import scheduler  # noqa: PLC0415  (late, as in tuskflow_api)

    recorded: dict[str, float] = {}
    for event in scheduler.history(job_id):
        recorded.setdefault(event["event_type"], event["recorded_at"].timestamp())
    phases: dict[str, float] = {}
    since = spawned_at
    for phase, event_type in PHASES:
        if event_type in recorded:
            phases[phase] = recorded[event_type] - since
            since = recorded[event_type]
    phases["exit_s"] = exited_at - since
    return phases


def bench_tpch(cases: Sequence[Case], tools: Sequence[str], runs: int, work: Path) -> TpchOutcome:
    """The TPC-H cases: their data, the cluster when tuskflow is among ``tools``, one untimed
    run of each tool on each case (DuckDB's first, whatever ``tools`` says: the expectation),
    then ``runs`` rounds over every case and tool."""
    csvs = {case.name: lineitem_csv(case.scale) for case in cases}
    for csv in csvs.values():
        warm(csv)
    verdicts = {case.name: Verdicts(case.keys, case.measures, case.counts) for case in cases}
    logs = work / "logs-tpch"
    logs.mkdir()
    with contextlib.ExitStack() as stack:
        cluster, failure = _tpch_cluster(stack, tools, logs)
        rounds = TpchRounds(csvs, work, cluster, logs, verdicts)
        if failure:
            rounds.failures |= {case.name: failure for case in cases}
        warm_up(rounds, cases, tools)
        idle = None if cluster is None else idle_pss_mb(cluster)
        if idle is not None:
            progress(f"      idle cluster: {idle:,.0f} MB PSS")
        results = tpch_rounds(rounds, cases, tools, runs)
    return TpchOutcome(results, verdicts, rounds.failures, idle)


def _tpch_cluster(
    stack: contextlib.ExitStack, tools: Sequence[str], logs: Path
) -> tuple[Cluster | None, str]:
    """The warm cluster, stopped with ``stack``, or None and why: not asked for, not ready
    (printed), or failed (returned)."""
    if "tuskflow" not in tools:
        return None, ""
    try:
        tuskflow_api()
        env = stack.enter_context(bench_environment())
        return stack.enter_context(running_cluster(TPCH_WORKERS, env, logs)), ""
    except NotReadyError as exc:
        progress(f"      tuskflow skipped: {exc}")
        return None, ""
    except ClusterError as exc:
        return None, f"the cluster did not start: {exc}"


def warm_up(rounds: TpchRounds, cases: Sequence[Case], tools: Sequence[str]) -> None:
    """One untimed run of every tool on every case, DuckDB's first."""
    for case in cases:
        for tool in ["duckdb", *(tool for tool in tools if tool != "duckdb")]:
            run = rounds.run(tool, case, "warm-up")
            shown = "failed" if run is None else f"{run.wall_s:6.2f} s"
            progress(f"      warm-up: {case.name:<8} {tool:<8} {shown}")


def idle_pss_mb(cluster: Cluster) -> float:
    """The median of IDLE_SAMPLES sums of the PSS of the cluster's processes, SAMPLE_S apart."""
    samples = []
    for _ in range(IDLE_SAMPLES):
        samples.append(tree_pss(cluster.roots))
        time.sleep(SAMPLE_S)
    return median(samples) / 2**20


def tpch_rounds(
    rounds: TpchRounds, cases: Sequence[Case], tools: Sequence[str], runs: int
) -> CaseResults:
    """``runs`` rounds, each running every case by every tool in an order rotating with the
    round; tuskflow's runs of a case stop at its first failure."""
    found: CaseResults = {case.name: {tool: [] for tool in tools} for case in cases}
    for round_no in range(runs):
        shift = round_no % len(tools)
        for case in cases:
            for tool in [*tools[shift:], *tools[:shift]]:
                run = rounds.run(tool, case, f"round {round_no + 1}")
                if run is None:
                    continue
                found[case.name][tool].append(run)
                job = f"  job {run.job_id}" if run.job_id else ""
                progress(
                    f"      round {round_no + 1}/{runs}: {case.name:<8} {tool:<8}"
                    f" {run.wall_s:6.2f} s  peak {run.peak_mb:7,.0f} MB  ({_inside_text(run)}){job}"
                )
    return found


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


def print_tpch_table(outcome: TpchOutcome, tools: Sequence[str], command: str) -> None:
    """Per case and tool: median wall (min-max), its ratio to DuckDB's median, the median peak
    PSS and the median split inside; then the idle cluster's PSS and the command run."""
    print()
    print(
        f"{'case':<8} {'tool':<9} {'wall s (min-max)':<20} {'x DuckDB':>8} {'peak PSS MB':>11}"
        "  inside"
    )
    for case, by_tool in outcome.results.items():
        duckdb = by_tool.get("duckdb")
        reference = median([r.wall_s for r in duckdb]) if duckdb else None
        for tool in tools:
            runs = by_tool[tool]
            if not runs:
                print(f"{case:<8} {tool:<9} n/a")
                continue
            walls = [r.wall_s for r in runs]
            wall = f"{median(walls):.2f} ({min(walls):.2f}-{max(walls):.2f})"
            ratio = f"{median(walls) / reference:.2f}" if reference else "n/a"
            peak = median([r.peak_mb for r in runs])
            inside = _inside_text(_median_inside(runs))
            print(f"{case:<8} {tool:<9} {wall:<20} {ratio:>8} {peak:>11,.0f}  {inside}")
    if outcome.idle_mb is not None:
        print(
            f"idle tuskflow cluster (Dask scheduler, {TPCH_WORKERS} Dask workers, Celery worker):"
            f" {outcome.idle_mb:,.0f} MB PSS, within tuskflow's peaks above"
        )
    print(f"reproduce: {command}")


def _median_inside(runs: Sequence[Run]) -> Run:
    """A run holding the median of each split every run has."""
    keys = [key for key in runs[0].inside if all(key in run.inside for run in runs)]
    return Run(0, 0, {key: median([run.inside[key] for run in runs]) for key in keys})


def tpch_summary_rows(results: CaseResults) -> list[Row]:
    """tuskflow's median wall over DuckDB's in each TPC-H case run, against its target."""
    return [
        _row(
            Ratio(f"{case}: tuskflow / DuckDB, wall", "tuskflow", "duckdb", "wall", at_most=target),
            _medians(results[case], lambda r: r.wall_s),
        )
        for case, target in TPCH_TARGETS.items()
        if case in results
    ]


def command_line(args: argparse.Namespace) -> str:
    """The command that runs this bench as ``args`` say, from the repository's root."""
    words = [".venv/bin/python", "bench/bench_etl.py", "--cases", ",".join(args.cases)]
    words += ["--runs", str(args.runs)]
    if "sales" in args.cases and args.rows != ROWS:
        words += ["--rows", str(args.rows)]
    if args.tools != list(TOOLS):
        words += ["--tools", ",".join(args.tools)]
    return f'eval "$(.venv/bin/tuskflow local env)"; {shlex.join(words)}'


def print_environment() -> None:
    """What the numbers were measured on."""
    versions = []
    for name in ("pandas", "dask", "duckdb", "polars", "pyarrow", "tpchgen-cli"):
        try:
            versions.append(f"{name} {_version(name)}")
        except ImportError:
            versions.append(f"{name} missing")
    print(f"cores: {os.cpu_count()}   Python {platform.python_version()}   {'   '.join(versions)}")
    print(f"PSS sampled every {SAMPLE_S * 1e3:.0f} ms")


def print_data(csv: Path) -> None:
    """Which file a case reads, and its size."""
    print(f"data: {csv.relative_to(ROOT)} ({csv.stat().st_size / 1e6:,.0f} MB)")


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
    parser.add_argument(
        "--cases",
        default=",".join(CASE_NAMES),
        help=f"a comma list of {', '.join(CASE_NAMES)} (default all)",
    )
    parser.add_argument(
        "--rows", type=int, default=ROWS, help=f"the sales CSV's rows (default {ROWS:,})"
    )
    parser.add_argument(
        "--tools",
        default=",".join(TOOLS),
        help=f"a comma list of {', '.join(TOOLS)} (default all; the TPC-H cases run"
        f" {', '.join(TPCH_TOOLS)} among them)",
    )
    args = parser.parse_args(argv)
    args.cases = _words(args.cases)
    args.tools = _words(args.tools)
    if set(args.cases) - set(CASE_NAMES) or not args.cases:
        parser.error(f"--cases among {', '.join(CASE_NAMES)}")
    if set(args.tools) - set(TOOLS) or not args.tools or args.runs < 1:
        parser.error(f"--runs at least 1; --tools among {', '.join(TOOLS)}")
    return args


def _words(comma_list: str) -> list[str]:
    return [word.strip() for word in comma_list.split(",") if word.strip()]


def main(argv: Sequence[str] | None = None) -> None:
    """Make the data, run the cases asked for, print their tables and ratios; exit 1 on a
    mismatch or a failed tuskflow job."""
    args = parse_args(argv)
    started = time.perf_counter()
    print_environment()
    verdicts: dict[str, Verdicts] = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tf-bench-etl-") as scratch:
        work = Path(scratch)
        if "sales" in args.cases:
            verdicts["sales"], failure = run_sales(args, work)
            failures += [failure] if failure else []
        cases = [CASES[name] for name in args.cases if name in CASES]
        tools = [tool for tool in TPCH_TOOLS if tool in args.tools]
        if cases and tools:
            outcome = run_tpch(args, cases, tools, work)
            verdicts |= outcome.verdicts
            failures += outcome.failures.values()
        elif cases:
            progress(f"TPC-H cases skipped: --tools names none of {', '.join(TPCH_TOOLS)}")
    print(f"\nfull run: {time.perf_counter() - started:.0f} s")
    finish(verdicts, failures)


def run_sales(args: argparse.Namespace, work: Path) -> tuple[Verdicts, str]:
    """The sales case: every tool asked for, its table and ratios; its verdicts, and why
    tuskflow failed ("" if it did not)."""
    csv = sales_csv(args.rows)
    print_data(csv)
    warm(csv)
    verdicts = sales_verdicts()
    results: dict[str, list[Run]] = {}
    failure = ""
    references = [tool for tool in REFERENCE_TOOLS if tool in args.tools]
    if references:
        progress(f"[sales 1/2] references, {args.runs} rounds in rotating order: {references}")
        results |= bench_references(references, csv, args.runs, work, verdicts)
    if "tuskflow" in args.tools:
        progress(
            f"[sales 2/2] tuskflow, {args.runs} run(s) on 2 single-thread Dask workers, then 1"
        )
        try:
            two, one = bench_tuskflow(csv, args.runs, work, verdicts)
        except ClusterError as exc:
            two, one, failure = [], [], f"sales: {exc}"
        results |= {TWO_WORKERS: two, ONE_WORKER: one}
    print_table(results)
    print_summary(summary_rows(results))
    return verdicts, failure


def run_tpch(
    args: argparse.Namespace, cases: Sequence[Case], tools: Sequence[str], work: Path
) -> TpchOutcome:
    """The TPC-H cases asked for, by ``tools``; their table and ratios printed."""
    names = ", ".join(case.name for case in cases)
    progress(
        f"[tpch] {names}: one untimed run of each tool, then {args.runs} rounds of"
        f" {', '.join(tools)} in rotating order (tuskflow: `tuskflow submit --wait`"
        f" on {TPCH_WORKERS} single-thread Dask workers)"
    )
    outcome = bench_tpch(cases, tools, args.runs, work)
    print_tpch_table(outcome, tools, command_line(args))
    print_summary(tpch_summary_rows(outcome.results))
    return outcome


def finish(verdicts: Mapping[str, Verdicts], failures: Sequence[str]) -> None:
    """Say loudly what went wrong and exit 1, or say that every output matched."""
    for failure in failures:
        print(f"\n!!! TUSKFLOW FAILED: {failure}")
    differing = {case: found for case, found in verdicts.items() if found.mismatches}
    if differing:
        print("\n!!! RESULTS DIFFER: the timings above compare different answers !!!")
        for case, found in differing.items():
            print(f"[{case}]")
            print("\n".join(found.mismatches))
    if failures or differing:
        sys.exit(1)
    for case, found in verdicts.items():
        if found.first:
            print(f"{case}: every output matched the aggregates of {found.first}")


if __name__ == "__main__":
    main()
