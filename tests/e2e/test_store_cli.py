"""`tuskflow db migrate` and `tuskflow store ...` as a person runs them."""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.fix_services import with_search_path
from tuskflow.eventstore import NewEvent, PostgresEventStore
from tuskflow.jobs.history import JobHistory

TUSKFLOW = Path(sys.executable).with_name("tuskflow")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def schema_url(postgres_url: str) -> Iterator[str]:
    schema = f"cli_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield with_search_path(postgres_url, schema)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def _tuskflow(*args: str, url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSKFLOW_")}
    env.update(PYTHONPATH=str(REPO), TUSKFLOW_LOG_FORMAT="json")
    if url is not None:
        env["TUSKFLOW_DATABASE_URL"] = url
    return subprocess.run(
        [str(TUSKFLOW), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_migrate_then_inspect_replay_and_snapshot_a_stream(schema_url: str) -> None:
    first = _tuskflow("db", "migrate", url=schema_url)
    second = _tuskflow("db", "migrate", url=schema_url)
    with PostgresEventStore(schema_url) as store:
        store.append("tally-1", [NewEvent("Added", {"n": n}) for n in range(1, 6)])
        store.append("other-1", [NewEvent("Noted", {})])

    stats = _tuskflow("store", "stats", url=schema_url)
    read = _tuskflow("store", "read", "tally-1", "--from-version", "4", "--json", url=schema_url)
    backwards = _tuskflow(
        "store", "read", "tally-1", "--backwards", "--limit", "2", "--json", url=schema_url
    )
    table = _tuskflow("store", "read", "tally-1", url=schema_url)
    replay = _tuskflow("store", "replay", "event_counts", url=schema_url)
    snapshot = _tuskflow(
        "store",
        "snapshot",
        "tally-1",
        "--aggregate",
        "tests.e2e.sample_aggregates:Tally",
        url=schema_url,
    )
    tail = _tuskflow("store", "tail", "--after", "0", "--count", "3", url=schema_url)

    assert first.returncode == 0, first.stderr
    # Each migration is told once: logged as it is applied, then one line sums them up.
    told = first.stdout + first.stderr
    assert told.count("event_store") == 1, told
    assert first.stdout.strip() == "schema at 0006_process_heartbeats (6 applied)"
    assert second.stdout.strip() == "schema at 0006_process_heartbeats (no change)"
    assert "events        6" in stats.stdout
    assert "streams       2" in stats.stdout
    assert [json.loads(line)["version"] for line in read.stdout.splitlines()] == [4, 5]
    assert [json.loads(line)["version"] for line in backwards.stdout.splitlines()] == [5, 4]
    assert [line.split()[3] for line in table.stdout.splitlines() if "Added" in line] == [
        str(n) for n in range(1, 6)
    ]
    assert '{"n": 5}' in table.stdout
    assert replay.returncode == 0, replay.stderr
    assert "event_counts: rebuilt from 6 events" in replay.stdout
    assert snapshot.returncode == 0, snapshot.stderr
    assert "snapshot at version 5 of 5 (0 events after it)" in snapshot.stdout
    assert [json.loads(line)["position"] for line in tail.stdout.splitlines()] == [1, 2, 3]


def test_store_commands_explain_what_is_wrong(schema_url: str) -> None:
    _tuskflow("db", "migrate", url=schema_url)

    missing_stream = _tuskflow("store", "read", "nope", url=schema_url)
    unknown_projection = _tuskflow("store", "replay", "nope", url=schema_url)
    no_database = _tuskflow("store", "stats", url=None)

    assert missing_stream.returncode == 1
    assert "stream 'nope' has no events" in missing_stream.stderr
    assert unknown_projection.returncode == 2
    assert "known: event_counts, jobs" in unknown_projection.stderr
    assert no_database.returncode == 2
    assert "TUSKFLOW_DATABASE_URL is not set" in no_database.stderr
    assert "Traceback" not in no_database.stderr


def test_the_jobs_projection_is_rebuilt_and_a_job_stream_snapshotted_by_name(
    schema_url: str,
) -> None:
    _tuskflow("db", "migrate", url=schema_url)
    with PostgresEventStore(schema_url) as store:
        history = JobHistory(store)
        history.submitted("j1", "daily", '{"version": 1}', "ana@host")
        history.started("j1", "w1", "t1", partitions=2)
        for index in range(2):
            history.partition_completed("j1", 1, index, rows_in=10, rejected=0)
        history.succeeded("j1", 1, {"rows_in": 20, "rows_out": 2, "rejected": 0, "output": "o"})
        store.append("tally-1", [NewEvent("Added", {"n": 1})])

    replay = _tuskflow("store", "replay", "jobs", url=schema_url)
    listed = _tuskflow("jobs", "list", "--json", url=schema_url)
    snapshot = _tuskflow("store", "snapshot", "job-j1", "--take", url=schema_url)
    not_ours = _tuskflow("store", "snapshot", "tally-1", "--take", url=schema_url)
    no_snapshots = _tuskflow(
        "store",
        "snapshot",
        "tally-1",
        "--aggregate",
        "tests.e2e.sample_aggregates:Count",
        url=schema_url,
    )

    assert replay.returncode == 0, replay.stderr
    assert "jobs: rebuilt from 5 events" in replay.stdout
    assert "6/6" in replay.stdout  # the bar reaches the head, past the tally's event too
    assert [json.loads(line)["status"] for line in listed.stdout.splitlines()] == ["succeeded"]
    assert snapshot.returncode == 0, snapshot.stderr
    assert "stream 'job-j1': snapshot at version 5 of 5 (0 events after it)" in snapshot.stdout
    assert not_ours.returncode == 2
    assert "tuskflow writes no aggregate to stream 'tally-1'" in not_ours.stderr
    assert no_snapshots.returncode == 2
    assert "sample_aggregates:Count does not take snapshots" in no_snapshots.stderr
    assert "Traceback" not in no_snapshots.stderr + not_ours.stderr
