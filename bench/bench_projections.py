"""Benchmark: a category projection catching up on a store that mostly holds other streams.

Run it against local services:

    make up && eval "$(.venv/bin/tuskflow local env)" && .venv/bin/python bench/bench_projections.py

The store (schema tf_projections_bench, dropped first and at the end) holds EVENTS events of
1,000 meter streams, as consumers leave them, with JOB_EVENTS events of job streams spread
among them. Side by side, ROUNDS times each, rebuilt from position 0:

- ours: a projection of the ``job-`` category (ProjectionRunner reads only its streams' events
  and moves its checkpoint past the rest);
- the reference: the same projection reading every event and skipping the others itself, as
  the jobs projection did before it named its category.

It prints the medians and their ratio, and checks that both applied the same job events.
"""

import logging
import os
import sys
import time
from typing import Any

import psycopg
import structlog
from _report import Row, drop_schema, median, print_summary, progress, with_search_path
from psycopg import sql

from tuskflow.eventstore import NewEvent, PostgresEventStore, StreamEvent, migrate
from tuskflow.eventstore.postgres.projection import ProjectionRunner
from tuskflow.eventstore.projections import EventCounts
from tuskflow.eventstore.records import RecordedEvent

SCHEMA = "tf_projections_bench"
EVENTS = 1_000_000
JOB_EVENTS = 200
BATCH = 5000
ROUNDS = 3
CATEGORY = "job-"

Connection = psycopg.Connection[Any]


class JobEventCounts(EventCounts):
    """Counts of the job streams' events, read by category."""

    name = "bench_job_counts"
    category = CATEGORY


class JobEventCountsOfEveryEvent(EventCounts):
    """The same counts, reading every event and skipping the other streams' itself."""

    name = "bench_job_counts_every_event"

    def apply(self, conn: Connection, events: list[RecordedEvent]) -> None:
        """Count only the job streams' events of the page."""
        jobs = [event for event in events if event.stream_id.startswith(CATEGORY)]
        if jobs:
            super().apply(conn, jobs)


def fill(url: str) -> None:
    """EVENTS meter events with a job event every EVENTS // JOB_EVENTS of them."""
    every = EVENTS // JOB_EVENTS
    with PostgresEventStore(url) as store:
        for start in range(0, EVENTS, BATCH):
            items = []
            for n in range(start, start + BATCH):
                if n % every == every // 2:
                    items.append(StreamEvent(f"{CATEGORY}{n // every}", NewEvent("Ran", {})))
                else:
                    items.append(StreamEvent(f"meter-{n % 1000}", NewEvent("Read", {"n": n})))
            store.append_batch(items)
            if (start // BATCH) % 40 == 0:
                progress(f"      {start + BATCH:,} of {EVENTS:,} events stored")


def rebuild_seconds(url: str, runner: ProjectionRunner) -> tuple[float, int]:
    """Seconds to rebuild from position 0, and the job events the read model then counts."""
    started = time.perf_counter()
    runner.rebuild()
    took = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(events), 0) FROM projection_event_counts"
        ).fetchone()
    return took, int(row[0]) if row else 0


def main() -> None:
    """Fill the store, rebuild both projections ROUNDS times, print the summary."""
    base_url = os.environ.get("TUSKFLOW_DATABASE_URL")
    if not base_url:
        sys.exit(
            "TUSKFLOW_DATABASE_URL is not set: run `make up` and "
            '`eval "$(.venv/bin/tuskflow local env)"`, then run this again'
        )
    # Info lines of migrate() and of each rebuild would interleave with the output.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    url = with_search_path(base_url, SCHEMA)
    drop_schema(base_url, SCHEMA)
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
    try:
        migrate(url)
        progress(
            f"[1/2] filling a store with {EVENTS:,} events, {JOB_EVENTS} of them in job streams"
        )
        fill(url)
        progress(f"[2/2] rebuilding each projection {ROUNDS} times, in turns")
        ours: list[float] = []
        reference: list[float] = []
        for round_no in range(ROUNDS):
            # One table holds both read models' counts: each rebuild empties it first.
            took, counted = rebuild_seconds(url, ProjectionRunner(url, JobEventCounts()))
            ref_took, ref_counted = rebuild_seconds(
                url, ProjectionRunner(url, JobEventCountsOfEveryEvent())
            )
            if counted != JOB_EVENTS or ref_counted != JOB_EVENTS:
                sys.exit(f"counted {counted} and {ref_counted} job events, not {JOB_EVENTS}")
            ours.append(took)
            reference.append(ref_took)
            progress(
                f"      round {round_no + 1}/{ROUNDS}: by category {took * 1000:,.1f} ms,"
                f" every event {ref_took * 1000:,.1f} ms"
            )
    finally:
        drop_schema(base_url, SCHEMA)
    mine, theirs = median(ours), median(reference)
    print_summary(
        [
            Row(
                f"rebuild a category projection over {EVENTS:,} events (time)",
                f"{mine * 1000:,.1f} ms",
                f"{theirs * 1000:,.1f} ms",
                theirs / mine,
                "-",
                None,
            )
        ]
    )


if __name__ == "__main__":
    main()
