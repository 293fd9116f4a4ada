"""Benchmark: the event log's archive, export and verify, against a plain COPY into pyarrow.

    make up && eval "$(.venv/bin/tuskflow local env)" && .venv/bin/python bench/bench_archive.py

A store of --events (1,000,000) backdated events, 250,000 a day on days ending three days ago,
their data padded to about 400 bytes of CSV an event (tests/integration/archive/backdated.py),
is measured --runs (3) times, interleaved, each a whole process timed from spawn to exit as a
user would time the command:

- ours, export: ``tuskflow archive export --to <empty folder>`` with
  TUSKFLOW_ARCHIVE_SETTLE_S=0, every run on an empty archive and an emptied ``archive_days``,
  so that each run exports every day again;
- reference, fetch and write: this file run again as a process of its own
  (``--reference-export``): psycopg, one ``COPY (SELECT <the archive's columns> FROM events
  ORDER BY global_position) TO STDOUT (FORMAT csv)`` into one in-memory buffer, read whole by
  ``pyarrow.csv.read_csv`` (the archive's column types, recorded_at cast to a timestamp) and
  written by ``pyarrow.parquet.write_table`` (zstd) into files of 200,000 rows;
- ours, verify: ``tuskflow archive verify --to <that export>`` (every day read back and
  compared event by event with the store; it records verified_at each time);
- reference for verify: the same fetch into one pyarrow table, nothing written or read back
  (``--reference-fetch``).

Then the store grows to --memory-events (4,000,000): more days of 250,000 events after the
first ones, and the export and the reference's fetch and write run --runs times again,
interleaved, on the whole log. Peak memory is each process's maximum RSS, as the kernel
reports it when the process is reaped, read with ``/usr/bin/time -f %M`` (GNU time, needed),
not sampled. (Not with wait4 from this process: a child spawned by vfork, as subprocess does,
starts from this process's own high-water mark.) The reference's peak is shown beside ours for
scale; it holds the whole log, so it grows with it.

Targets (the issue's): export at least 0.70 of the plain fetch-and-write's speed, verify at
least 0.50 of the plain fetch's, and the export's peak memory at 4M events within 1.30x of its
peak at 1M. Ratios are our speed over the reference's (the reference's time over ours), for
memory 4M over 1M. A row without a target holds the whole export against the reference's COPY
alone (its median, timed inside the reference's processes, into memory): the database's floor.
It prints medians and never asserts a time.

Everything lives in schema tf_archive_bench (dropped first and at the end) and a temporary
folder. A full run takes three to four minutes on two cores, a third of it filling the store.
"""

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from _report import (
    Row,
    drop_schema,
    median,
    per_second,
    print_summary,
    progress,
    rate_text,
    with_search_path,
)

SCHEMA = "tf_archive_bench"
ROOT = Path(__file__).resolve().parent.parent
TUSKFLOW = Path(sys.executable).with_name("tuskflow")
GNU_TIME = Path("/usr/bin/time")
EVENTS_PER_DAY = 250_000
PAD = 200  # characters of padding in each event's data: about 400 bytes of CSV an event
LAST_DAY_AGO = 3  # the newest backdated day is this many days before today (UTC)
FILE_ROWS = 200_000  # the reference's rows per Parquet file, as the archive's FILE_EVENTS
EXPORT_TARGET = 0.70
VERIFY_TARGET = 0.50
MEMORY_TARGET = 1.30

# The archive's columns as the archive's port selects them (ARCHIVE_COLUMNS, _SELECT), the
# whole log in global order.
_COLUMNS = (
    "global_position", "stream_id", "stream_version", "event_id", "event_type", "data",
    "metadata", "recorded_at_us",
)  # fmt: skip
_TYPES = {
    "global_position": pa.int64(),
    "stream_id": pa.string(),
    "stream_version": pa.int32(),
    "event_id": pa.string(),
    "event_type": pa.string(),
    "data": pa.string(),
    "metadata": pa.string(),
    "recorded_at_us": pa.int64(),
}
REFERENCE_COPY = (
    "COPY (SELECT global_position, stream_id, stream_version, event_id, event_type, data::text,"
    " metadata::text, (extract(epoch FROM recorded_at) * 1000000)::bigint FROM events"
    " ORDER BY global_position) TO STDOUT (FORMAT csv)"
)


# --- the reference, run as a process of its own ------------------------------------------------


def reference_fetch(url: str, timings: dict[str, float]) -> pa.Table:
    """Every event as one pyarrow table: one COPY into a buffer, read by pyarrow.csv."""
    started = time.perf_counter()
    buffer = io.BytesIO()
    with psycopg.connect(url) as conn, conn.cursor().copy(REFERENCE_COPY) as copy:
        for block in copy:
            buffer.write(block)
    copied = time.perf_counter()
    table = pacsv.read_csv(
        pa.BufferReader(pa.py_buffer(buffer.getbuffer())),
        read_options=pacsv.ReadOptions(column_names=list(_COLUMNS)),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=_TYPES),
    )
    recorded = pc.cast(table.column("recorded_at_us"), pa.timestamp("us", tz="UTC"))
    table = table.set_column(len(_COLUMNS) - 1, "recorded_at", recorded)
    timings["copy_s"] = copied - started
    timings["parse_s"] = time.perf_counter() - copied
    return table


def reference_main(url: str, export_to: Path | None) -> None:
    """The reference's process: fetch, and with ``export_to`` write; its timings as JSON."""
    timings: dict[str, float] = {}
    table = reference_fetch(url, timings)
    if export_to is not None:
        started = time.perf_counter()
        export_to.mkdir(parents=True, exist_ok=True)
        for start in range(0, table.num_rows, FILE_ROWS):
            part = table.slice(start, FILE_ROWS)
            pq.write_table(part, export_to / f"events-{start:012d}.parquet", compression="zstd")
        timings["write_s"] = time.perf_counter() - started
    print(json.dumps({"rows": table.num_rows, **timings}), flush=True)


# --- the store ----------------------------------------------------------------------------------


def fresh_store(base_url: str) -> str:
    """A migrated, empty store in SCHEMA."""
    from tuskflow.eventstore.postgres.migrate import migrate  # noqa: PLC0415 - not in references

    drop_schema(base_url, SCHEMA)
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
    url = with_search_path(base_url, SCHEMA)
    migrate(url)
    return url


def day_counts(first: date, events: int) -> dict[date, int]:
    """``events`` spread EVENTS_PER_DAY a day from ``first`` on (the last day may hold fewer)."""
    counts: dict[date, int] = {}
    day = first
    while events > 0:
        counts[day] = min(events, EVENTS_PER_DAY)
        events -= counts[day]
        day += timedelta(days=1)
    return counts


def fill(url: str, counts: Mapping[date, int], already: int) -> None:
    """Backdated events on each day, one statement a day, with progress; then VACUUM ANALYZE
    (hint bits and statistics set now, not by the first measured read)."""
    sys.path.insert(0, str(ROOT))
    from tests.integration.archive.backdated import write_days  # noqa: PLC0415 - repo root

    started = time.perf_counter()
    written = already
    for day, count in sorted(counts.items()):
        write_days(url, {day: count}, pad=PAD)
        written += count
        progress(f"      {day}: {count:,} events, {written:,} in the store")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE events")
        size = conn.execute("SELECT pg_total_relation_size('events')").fetchone()
    total = size[0] if size else 0
    progress(
        f"      filled in {time.perf_counter() - started:.0f} s;"
        f" events table {total / 2**20:,.0f} MB"
    )


def forget_archive(url: str, folder: Path) -> None:
    """No archive at ``folder`` and no archived day recorded: the next export does it all."""
    shutil.rmtree(folder, ignore_errors=True)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM archive_days")


# --- whole processes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One process: wall seconds from spawn to exit, peak RSS, what it printed."""

    wall_s: float
    peak_mb: float
    stdout: str


def run_process(argv: Sequence[str], env: Mapping[str, str], logs: Path, label: str) -> Run:
    """``argv`` in a process of its own under GNU time, timed from spawn to exit, with its
    peak RSS; SystemExit with its stderr's end if it fails."""
    out, err, peak = (logs.with_suffix(suffix) for suffix in (".out", ".err", ".peak"))
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.perf_counter()
        returncode = subprocess.call(
            [str(GNU_TIME), "-f", "%M", "-o", str(peak), *argv],
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
        wall = time.perf_counter() - started
    if returncode != 0:
        tail = "\n".join(err.read_text(errors="replace").splitlines()[-20:])
        sys.exit(f"{label} failed ({returncode}):\n{tail}")
    peak_kib = int(peak.read_text().split()[-1])
    return Run(wall, peak_kib / 1024, out.read_text(errors="replace"))


@dataclass
class Bench:
    """The processes measured, on the store at ``url``, in the folder ``work``."""

    url: str
    work: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "TUSKFLOW_DATABASE_URL": self.url,
            "TUSKFLOW_ARCHIVE_SETTLE_S": "0",
            "TUSKFLOW_LOG_FORMAT": "json",
        }

    @property
    def archive(self) -> Path:
        return self.work / "archive"

    def ours_export(self, events: int, label: str) -> Run:
        forget_archive(self.url, self.archive)
        argv = [str(TUSKFLOW), "archive", "export", "--to", str(self.archive)]
        run = run_process(argv, self.env, self.work / label, label)
        archived = archived_events(self.archive)
        if archived != events:
            sys.exit(f"{label}: the archive holds {archived:,} events, the store {events:,}")
        return run

    def ours_verify(self, label: str) -> Run:
        argv = [str(TUSKFLOW), "archive", "verify", "--to", str(self.archive)]
        run = run_process(argv, self.env, self.work / label, label)
        lines = run.stdout.splitlines()
        if not lines or any(" ok " not in line for line in lines):
            sys.exit(f"{label}: not every day verified:\n{run.stdout[-2000:]}")
        return run

    def reference(self, events: int, label: str, *, export: bool) -> tuple[Run, dict[str, float]]:
        folder = self.work / "reference"
        shutil.rmtree(folder, ignore_errors=True)
        mode = ["--reference-export", str(folder)] if export else ["--reference-fetch"]
        argv = [sys.executable, str(Path(__file__).resolve()), *mode]
        run = run_process(argv, self.env, self.work / label, label)
        shutil.rmtree(folder, ignore_errors=True)
        report = json.loads(run.stdout.splitlines()[-1])
        if report["rows"] != events:
            sys.exit(f"{label}: fetched {report['rows']:,} events, the store holds {events:,}")
        return run, {key: float(value) for key, value in report.items() if key.endswith("_s")}


def archived_events(folder: Path) -> int:
    """How many events the archive's manifests hold."""
    from tuskflow.archive.destination import Destination  # noqa: PLC0415 - not in references

    return sum(manifest.events for manifest in Destination(str(folder)).manifests())


def shown(run: Run) -> str:
    return f"{run.wall_s:6.2f} s, peak {run.peak_mb:,.0f} MB"


def inside(timings: Mapping[str, float]) -> str:
    return ", ".join(f"{key.removesuffix('_s')} {value:.2f} s" for key, value in timings.items())


@dataclass
class Measured:
    """Every run of every side, by name."""

    runs: dict[str, list[Run]]
    copy_s: list[float]  # the reference's COPY alone, inside its process, every run

    def wall(self, name: str) -> float:
        return median([run.wall_s for run in self.runs[name]])

    def peak(self, name: str) -> float:
        return median([run.peak_mb for run in self.runs[name]])


def measure(bench: Bench, events: int, runs: int, *, verify: bool) -> Measured:
    """``runs`` rounds, interleaved: ours export, reference export, then (with ``verify``)
    ours verify and the reference fetch."""
    names = ("export", "reference export", "verify", "reference fetch")
    measured = Measured({name: [] for name in names}, [])
    for round_ in range(1, runs + 1):
        tag = f"{events // 1000}k-{round_}"
        run = bench.ours_export(events, f"export-{tag}")
        measured.runs["export"].append(run)
        progress(f"      round {round_}: ours, export         {shown(run)}")
        run, timings = bench.reference(events, f"reference-export-{tag}", export=True)
        measured.runs["reference export"].append(run)
        measured.copy_s.append(timings["copy_s"])
        progress(f"      round {round_}: reference, export    {shown(run)} ({inside(timings)})")
        if not verify:
            continue
        run = bench.ours_verify(f"verify-{tag}")
        measured.runs["verify"].append(run)
        progress(f"      round {round_}: ours, verify         {shown(run)}")
        run, timings = bench.reference(events, f"reference-fetch-{tag}", export=False)
        measured.runs["reference fetch"].append(run)
        measured.copy_s.append(timings["copy_s"])
        progress(f"      round {round_}: reference, fetch     {shown(run)} ({inside(timings)})")
    return measured


def speed_row(
    measure_name: str, events: int, ours: float, reference: float, target: float | None
) -> Row:
    """Our speed against the reference's: the reference's time over ours."""
    ratio = reference / ours
    return Row(
        measure_name,
        f"{ours:.2f} s ({rate_text(per_second(events, ours))})",
        f"{reference:.2f} s ({rate_text(per_second(events, reference))})",
        ratio,
        "-" if target is None else f">= {target:.2f}",
        None if target is None else ratio >= target,
    )


def summary(events: int, small: Measured, large: Measured | None, large_events: int) -> list[Row]:
    millions = f"{events / 1e6:g}M"
    rows = [
        speed_row(
            f"export {millions} vs COPY + pyarrow write",
            events,
            small.wall("export"),
            small.wall("reference export"),
            EXPORT_TARGET,
        ),
        speed_row(
            f"verify {millions} vs COPY into pyarrow",
            events,
            small.wall("verify"),
            small.wall("reference fetch"),
            VERIFY_TARGET,
        ),
        speed_row(
            f"export {millions} vs the COPY alone",
            events,
            small.wall("export"),
            median(small.copy_s),
            None,
        ),
        Row(
            f"export peak RSS {millions}, ours vs reference",
            f"{small.peak('export'):,.0f} MB",
            f"{small.peak('reference export'):,.0f} MB",
            small.peak("export") / small.peak("reference export"),
            "-",
            None,
        ),
    ]
    if large is None:
        return rows
    growth = large.peak("export") / small.peak("export")
    large_text = f"{large_events / 1e6:g}M"
    return [
        *rows,
        Row(
            f"export peak RSS, {large_text} vs {millions}",
            f"{large.peak('export'):,.0f} MB",
            f"{small.peak('export'):,.0f} MB",
            growth,
            f"<= {MEMORY_TARGET:.2f}",
            growth <= MEMORY_TARGET,
        ),
        speed_row(
            f"export {large_text} vs COPY + pyarrow write",
            large_events,
            large.wall("export"),
            large.wall("reference export"),
            EXPORT_TARGET,
        ),
        Row(
            f"reference peak RSS, {large_text} vs {millions}",
            f"{large.peak('reference export'):,.0f} MB",
            f"{small.peak('reference export'):,.0f} MB",
            large.peak("reference export") / small.peak("reference export"),
            "-",
            None,
        ),
    ]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--memory-events", type=int, default=4_000_000, help="0: no memory run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reference-export", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--reference-fetch", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    base_url = os.environ["TUSKFLOW_DATABASE_URL"]
    if args.reference_export is not None or args.reference_fetch:
        reference_main(base_url, args.reference_export)
        return
    if not GNU_TIME.exists():
        sys.exit(f"{GNU_TIME} (GNU time) is needed for peak memory: apt-get install time")
    started = time.perf_counter()
    total_days = -(-max(args.memory_events, args.events) // EVENTS_PER_DAY)
    first = datetime.now(UTC).date() - timedelta(days=LAST_DAY_AGO + total_days - 1)
    small_counts = day_counts(first, args.events)
    large: Measured | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="bench-archive-") as folder:
            bench = Bench(fresh_store(base_url), Path(folder))
            progress(f"[1/4] filling {SCHEMA}: {args.events:,} events, {len(small_counts)} days")
            fill(bench.url, small_counts, 0)
            progress(f"[2/4] export and verify of {args.events:,} events, {args.runs} rounds")
            small = measure(bench, args.events, args.runs, verify=True)
            if args.memory_events > args.events:
                more = day_counts(
                    max(small_counts) + timedelta(days=1), args.memory_events - args.events
                )
                progress(
                    f"[3/4] growing the store to {args.memory_events:,} events,"
                    f" {len(more)} days more"
                )
                fill(bench.url, more, args.events)
                progress(f"[4/4] export of {args.memory_events:,} events, {args.runs} rounds")
                large = measure(bench, args.memory_events, args.runs, verify=False)
    finally:
        drop_schema(base_url, SCHEMA)
    print_summary(summary(args.events, small, large, args.memory_events))
    print(f"\nwhole run {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
