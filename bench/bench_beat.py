"""Benchmark: tuskflow's beat against stock Celery beat, 1,000 entries firing every 10 s.

    make up && eval "$(.venv/bin/tuskflow local env)" && .venv/bin/python bench/bench_beat.py

For --seconds (120) each, one after the other in this process run:
- stock Celery beat (``celery -A _stock_beat_app beat``, bench/_stock_beat_app.py): interval
  entries sending a no-op task;
- one ``tuskflow beat`` on a schedule of the same entries (``every: 10s``, no-op jobs: their
  ETL tasks are queued and no worker takes them);
- two ``tuskflow beat`` processes on that schedule.

Every message the beats send is taken off its Redis queue by a thread of this process the
moment it lands (BLPOP), and stamped then: that is a fire's actual time. Lateness is actual
minus nominal: for tuskflow the nominal time its ledger recorded; for stock beat, whose
interval entries are due 10 s after their previous run, the previous message of the entry
plus 10 s. The first 10 s of a run (start-up) are left out, and so is its last 10 s: a beat
stopped by SIGTERM in the middle of a tick leaves that tick's remaining fires to be fired
late by whichever beat runs next. Fires expected are
every nominal time of every entry between the first and last 10 s step measured; missing and
doubled count against them (tuskflow by job id). CPU is the user and system time of each beat
process, read from /proc at its end. It prints medians and p99s and never asserts a time.

Everything lives in schema tf_beat_bench and Redis database 13 (emptied first and at the
end). A full run takes about seven minutes.
"""

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import psycopg
import redis
from _report import Row, drop_schema, print_summary, progress, with_search_path

from tuskflow.config.celery import ETL_QUEUE
from tuskflow.eventstore.postgres.migrate import migrate

SCHEMA = "tf_beat_bench"
BROKER_DB = 13
ROOT = Path(__file__).resolve().parent.parent
TUSKFLOW = Path(sys.executable).with_name("tuskflow")
STOCK_QUEUE = "bench-noop"
WARM_UP_S = 10.0
LATENESS_TARGET_S = 1.0
CPU_TARGET = 2.0


@dataclass
class Arrivals:
    """Messages taken off a queue, each with the moment it landed."""

    stamps: list[tuple[float, dict[str, object]]] = field(default_factory=list)


@contextmanager
def _arrivals(broker: str, queue: str) -> Iterator[Arrivals]:
    """Every message landing on ``queue`` of the (emptied) broker while the block runs, and
    for a second after, taken off and stamped by a thread of its own."""
    client = redis.Redis.from_url(broker)
    client.flushdb()
    arrivals, stop = Arrivals(), threading.Event()

    def drain() -> None:
        while not stop.is_set():
            popped = client.blpop([queue], timeout=0.2)
            if popped is not None:
                arrivals.stamps.append((time.time(), json.loads(popped[1])["headers"]))

    drainer = threading.Thread(target=drain)
    drainer.start()
    try:
        yield arrivals
        time.sleep(1)  # the last messages sent before the beats stopped
    finally:
        stop.set()
        drainer.join()
        client.close()


@dataclass
class Run:
    """One side's figures."""

    name: str
    cpu_s: float
    lateness_s: list[float]
    expected: int
    received: int
    missing: int
    doubled: int


def _steps(seconds: float, every_s: float) -> int:
    """The 10 s steps measured: after the warm-up, and the last one a whole interval before
    the beats are stopped, so that no tick is cut short by the SIGTERM."""
    return int((seconds - WARM_UP_S - every_s) // every_s)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _run_processes(
    argvs: list[list[str]], env: dict[str, str], seconds: float, log: Path
) -> list[float]:
    """Start the processes, let them run, SIGTERM them; their CPU seconds."""
    with log.open("ab") as out:
        started = [
            subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT) for argv in argvs
        ]
    watched = [psutil.Process(p.pid) for p in started]
    time.sleep(seconds)
    cpu = [_cpu_s(w) for w in watched]
    for process in started:
        process.send_signal(signal.SIGTERM)
    for process in started:
        process.wait(60)
    return cpu


def stock_run(broker: str, entries: int, every_s: float, seconds: float, folder: Path) -> Run:
    env = {
        **os.environ,
        "BENCH_BEAT_BROKER": broker,
        "BENCH_BEAT_ENTRIES": str(entries),
        "BENCH_BEAT_EVERY_S": str(every_s),
        "PYTHONPATH": str(ROOT / "bench"),
    }
    argv = [
        str(Path(sys.executable).with_name("celery")), "-A", "_stock_beat_app", "beat",
        "-s", str(folder / "stock-schedule"), "--loglevel", "WARNING",
    ]  # fmt: skip
    started = time.time()
    with _arrivals(broker, STOCK_QUEUE) as arrivals:
        [cpu] = _run_processes([argv], env, seconds, folder / "stock.log")
    by_entry: dict[str, list[float]] = defaultdict(list)
    for stamp, headers in arrivals.stamps:
        by_entry[str(headers["argsrepr"])].append(stamp)
    lateness = [
        later - earlier - every_s
        for stamps in by_entry.values()
        for earlier, later in itertools.pairwise(stamps)
        if earlier - started > WARM_UP_S
    ]
    steps = _steps(seconds, every_s)
    expected = entries * steps
    received = sum(
        sum(1 for stamp in stamps if WARM_UP_S < stamp - started <= WARM_UP_S + steps * every_s)
        for stamps in by_entry.values()
    )
    return Run(
        "stock Celery beat", cpu, lateness, expected, received, max(expected - received, 0), 0
    )


def _schedule(folder: Path, entries: int, every_s: float) -> Path:
    (folder / "data.csv").write_text("a,b\n1,2\n")
    (folder / "noop.yaml").write_text(
        f"version: 1\nname: noop\nsource: {{format: csv, path: {folder / 'data.csv'}}}\n"
        f"sink: {{kind: parquet, path: {folder / 'out'}}}\n"
    )
    lines = [
        f"  - {{id: noop-{n}, every: {every_s:g}s, job: noop.yaml, overlap: allow}}"
        for n in range(entries)
    ]
    path = folder / "schedule.yaml"
    path.write_text("entries:\n" + "\n".join(lines) + "\n")
    return path


def ours_run(
    name: str,
    beats: int,
    base_url: str,
    broker: str,
    schedule: Path,
    every_s: float,
    seconds: float,
) -> Run:
    url = _fresh_store(base_url)
    env = {
        **os.environ,
        "TUSKFLOW_DATABASE_URL": url,
        "TUSKFLOW_REDIS_URL": broker,
        "TUSKFLOW_LOG_LEVEL": "WARNING",
    }
    argv = [str(TUSKFLOW), "beat", "--schedule", str(schedule), "--loglevel", "WARNING"]
    started = datetime.now(UTC)
    with _arrivals(broker, ETL_QUEUE) as arrivals:
        cpu = _run_processes([argv] * beats, env, seconds, schedule.parent / f"{name}.log")
    with psycopg.connect(url) as conn:
        nominal_of: dict[str, datetime] = dict(
            conn.execute(
                "SELECT data->>'job_id', (data->>'nominal')::timestamptz FROM events"
                " WHERE event_type = 'FireRecorded'"
            ).fetchall()
        )
        entries = conn.execute(
            "SELECT count(DISTINCT stream_id) FROM events WHERE event_type = 'FireRecorded'"
        ).fetchone()
    arrived = Counter(str(headers["id"]) for _, headers in arrivals.stamps)
    first = {str(headers["id"]): stamp for stamp, headers in reversed(arrivals.stamps)}
    warm = started + timedelta(seconds=WARM_UP_S)
    measured = {job: nominal for job, nominal in nominal_of.items() if nominal >= warm}
    lateness = [
        first[job] - nominal.timestamp() for job, nominal in measured.items() if job in first
    ]
    steps = _steps(seconds, every_s)
    count = entries[0] if entries else 0
    window_end = warm + timedelta(seconds=steps * every_s)
    in_window = {job for job, nominal in measured.items() if nominal < window_end}
    expected = count * steps
    received = sum(1 for job in in_window if arrived[job])
    doubled = sum(n - 1 for n in arrived.values() if n > 1)
    return Run(name, sum(cpu), lateness, expected, received, max(expected - received, 0), doubled)


def _fresh_store(base_url: str) -> str:
    """A migrated, empty store in SCHEMA (the events table is append-only: made again)."""
    drop_schema(base_url, SCHEMA)
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
    url = with_search_path(base_url, SCHEMA)
    migrate(url)
    return url


def report(run: Run) -> None:
    p50, p99 = (_percentile(run.lateness_s, share) * 1000 for share in (0.5, 0.99))
    progress(
        f"      {run.name}: CPU {run.cpu_s:.1f} s; lateness p50 {p50:.0f} ms, p99 {p99:.0f} ms"
        f" over {len(run.lateness_s):,} fires; expected {run.expected:,}, received"
        f" {run.received:,}, missing {run.missing:,}, doubled {run.doubled:,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--every", type=float, default=10.0)
    args = parser.parse_args()
    base_url = os.environ["TUSKFLOW_DATABASE_URL"]
    broker = urlsplit(os.environ["TUSKFLOW_REDIS_URL"])._replace(path=f"/{BROKER_DB}").geturl()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-beat-") as folder:
            schedule = _schedule(Path(folder), args.entries, args.every)
            progress(
                f"[1/3] stock Celery beat, {args.entries:,} entries every {args.every:g} s,"
                f" {args.seconds:.0f} s"
            )
            stock = stock_run(broker, args.entries, args.every, args.seconds, Path(folder))
            report(stock)
            progress("[2/3] one tuskflow beat on the same entries")
            one = ours_run(
                "one tuskflow beat", 1, base_url, broker, schedule, args.every, args.seconds
            )
            report(one)
            progress("[3/3] two tuskflow beats on the same entries")
            two = ours_run(
                "two tuskflow beats", 2, base_url, broker, schedule, args.every, args.seconds
            )
            report(two)
    finally:
        redis.Redis.from_url(broker).flushdb()
        drop_schema(base_url, SCHEMA)
    rows = [
        Row("beat CPU, one tuskflow beat vs stock", f"{one.cpu_s:.1f} s", f"{stock.cpu_s:.1f} s",
            one.cpu_s / stock.cpu_s, f"<= {CPU_TARGET:.2f}", one.cpu_s / stock.cpu_s <= CPU_TARGET),
    ]  # fmt: skip
    for run in (stock, one, two):
        p99 = _percentile(run.lateness_s, 0.99)
        rows.append(Row(f"lateness p99, {run.name}", f"{p99 * 1000:.0f} ms", "1,000 ms",
                        p99 / LATENESS_TARGET_S, "< 1.00", p99 < LATENESS_TARGET_S))  # fmt: skip
    for run in (one, two):
        clean = run.missing == 0 and run.doubled == 0
        rows.append(Row(f"missing + doubled, {run.name}", f"{run.missing + run.doubled:,}",
                        f"of {run.expected:,}", 0.0, "0", clean))  # fmt: skip
    print_summary(rows)


if __name__ == "__main__":
    main()
