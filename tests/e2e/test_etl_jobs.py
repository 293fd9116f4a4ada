"""ETL jobs end to end: a producer process submits, a real Celery worker runs them on Dask.

The first test uses the local Dask cluster the worker owns; the kill test gives the worker a
cluster of its own (TUSKFLOW_DASK_SCHEDULER) so that the worker's only child is its pool
process, the one SIGKILLed mid-job.
"""

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psycopg
import pyarrow.parquet as pq
import pytest

from tests.e2e.etl_processes import (
    JOB_TIMEOUT_S,
    celery_worker,
    etl_env,
    job_events,
    kill_whole,
    order_ids_stored,
    pool_child,
    private_redis_db,
    run_producer,
    sales_to_table_job,
    spec,
    wait_for,
    write_sales,
)
from tuskflow.etl.cluster import LocalDaskCluster
from tuskflow.eventstore.postgres.store import PostgresEventStore
from tuskflow.jobs.history import JobHistory

# A Redis database per test process: two runs of this file at once would take each other's jobs.
REDIS_DB = 1 + os.getpid() % 15
# Short, so that a job lost with its worker is taken over within seconds.
LEASE_S = 3

PRODUCER = """
import json, sys
from tuskflow import scheduler
job_id = scheduler.submit(sys.argv[1] if len(sys.argv) > 1 else "spec.yaml")
print(json.dumps({"job_id": job_id}))
"""


def submit(env: dict[str, str], tmp_path: Path) -> str:
    """Submit spec.yaml from a separate producer process; the job id."""
    return str(json.loads(run_producer(env, PRODUCER, tmp_path))["job_id"])


@pytest.fixture
def redis_db(redis_url: str) -> str:
    """A Redis database of the test's own, emptied."""
    return private_redis_db(redis_url, REDIS_DB)


@pytest.fixture
def dask_cluster() -> Iterator[LocalDaskCluster]:
    """Two single-thread Dask workers outside the Celery worker."""
    with LocalDaskCluster(workers=2) as cluster:
        yield cluster


def test_job_submitted_from_a_producer_process_completes_with_pandas_results_and_history(
    migrated_url: str, redis_db: str, tmp_path: Path
) -> None:
    expected = write_sales(tmp_path / "sales.csv", 60_000, bad_rows=[7, 30_001])
    spec(
        tmp_path,
        {
            "name": "sales by region",
            "source": {"format": "csv", "path": "sales.csv", "partition_mb": 1},
            "transforms": [
                {"op": "filter", "where": "quantity > 0"},
                {"op": "derive", "column": "revenue", "expr": "quantity * unit_price"},
                {
                    "op": "aggregate",
                    "by": ["region", "category"],
                    "aggregations": {
                        "revenue": {"fn": "sum", "column": "revenue"},
                        "orders": {"fn": "count"},
                    },
                },
            ],
            "sink": {"kind": "parquet", "path": "out/by_region", "partition_by": ["region"]},
            "rejects": {"max_share": 0.01},
        },
    )
    env = etl_env(migrated_url, redis_db, tmp_path / "state", dask=None)

    with celery_worker(env, tmp_path / "worker.log"):
        job_id = submit(env, tmp_path)
        events = wait_for(migrated_url, job_id, "JobSucceeded")

    kept = expected[expected.quantity > 0].assign(revenue=lambda f: f.quantity * f.unit_price)
    want = kept.groupby(["region", "category"]).agg(
        revenue=("revenue", "sum"), orders=("revenue", "size")
    )
    got = pq.read_table(tmp_path / "out" / "by_region").to_pandas()
    got = got.assign(region=got.region.astype(str)).groupby(["region", "category"]).sum()
    pd.testing.assert_frame_equal(got.sort_index(), want.sort_index(), check_dtype=False)
    kinds = [kind for kind, _ in events]
    partitions = kinds.count("PartitionCompleted")
    assert kinds == [
        "JobSubmitted",
        "JobStarted",
        *["PartitionCompleted"] * partitions,
        "JobPublishing",
        "JobSucceeded",
    ]
    assert partitions == events[1][1]["partitions"]
    assert partitions > 1
    succeeded = events[-1][1]
    assert (succeeded["rows_in"], succeeded["rejected"]) == (60_000, 2)
    with psycopg.connect(migrated_url) as conn:
        rejects = conn.execute(
            "SELECT source_file, row_number, reason FROM etl_rejects WHERE job_id = %s"
            " ORDER BY row_number",
            [job_id],
        ).fetchall()
    assert [(Path(f).name, row) for f, row, _ in rejects] == [
        ("sales.csv", 7),
        ("sales.csv", 30_001),
    ]
    assert all("quantity" in reason and "lots" in reason for _, _, reason in rejects)


SHADOWING_PRODUCER = """
import json
import config, tasks, jobs
from tuskflow import scheduler
job_id = scheduler.submit("spec.yaml")
final = scheduler.wait(job_id, timeout_s=120)
print(json.dumps({"own": [config.OWNER, tasks.OWNER, jobs.OWNER], "status": final["status"]}))
"""


def test_producer_beside_its_own_config_tasks_and_jobs_modules_runs_a_job_to_success(
    migrated_url: str, redis_db: str, tmp_path: Path
) -> None:
    # Given a producer's folder holding modules named like tuskflow's parts, where the worker
    # is started too (python -m celery puts the working folder first on sys.path)
    for module in ("config.py", "tasks.py", "jobs/__init__.py"):
        (tmp_path / module).parent.mkdir(exist_ok=True)
        (tmp_path / module).write_text(f"OWNER = 'the producer ({module})'\n")
    write_sales(tmp_path / "sales.csv", 1_000, bad_rows=[])
    spec(
        tmp_path,
        {
            "name": "shadowed names",
            "source": {"format": "csv", "path": "sales.csv"},
            "sink": {"kind": "parquet", "path": "out/sales"},
        },
    )
    env = etl_env(migrated_url, redis_db, tmp_path / "state", dask=None)

    # When it submits a job and waits for it
    with celery_worker(env, tmp_path / "worker.log", cwd=tmp_path):
        result = json.loads(run_producer(env, SHADOWING_PRODUCER, tmp_path))

    # Then its own modules stayed its own, and tuskflow's job succeeded
    assert result["own"] == [
        "the producer (config.py)",
        "the producer (tasks.py)",
        "the producer (jobs/__init__.py)",
    ]
    assert result["status"] == "succeeded"
    assert pq.read_table(tmp_path / "out" / "sales").num_rows == 1_000


def test_worker_killed_mid_job_the_job_is_redelivered_and_its_output_holds_each_row_once(
    migrated_url: str, redis_db: str, dask_cluster: LocalDaskCluster, tmp_path: Path
) -> None:
    rows = sales_to_table_job(tmp_path)
    env = etl_env(migrated_url, redis_db, tmp_path / "state", dask=dask_cluster.address)

    with celery_worker(env, tmp_path / "worker.log") as worker:
        job_id = submit(env, tmp_path)
        wait_for(migrated_url, job_id, "PartitionCompleted")
        pool_child(worker).kill()
        events = wait_for(migrated_url, job_id, "JobSucceeded")

    starts = [data["attempt"] for kind, data in events if kind == "JobStarted"]
    assert starts == [1, 2]
    assert events[-1][1]["attempt"] == 2
    done_in_first = [d for kind, d in events if kind == "PartitionCompleted" and d["attempt"] == 1]
    planned = events[1][1]["partitions"]
    assert isinstance(planned, int)
    assert len(done_in_first) < planned, "the kill came after the job ended"
    assert order_ids_stored(migrated_url) == (rows, rows, 1, rows)


def test_a_job_whose_whole_worker_died_is_taken_over_by_another_worker_within_the_lease(
    migrated_url: str, redis_db: str, dask_cluster: LocalDaskCluster, tmp_path: Path
) -> None:
    rows = sales_to_table_job(tmp_path)
    env = etl_env(migrated_url, redis_db, tmp_path / "state", dask=dask_cluster.address)
    env["TUSKFLOW_JOB_LEASE_S"] = str(LEASE_S)

    with celery_worker(env, tmp_path / "first.log") as first:
        job_id = submit(env, tmp_path)
        wait_for(migrated_url, job_id, "PartitionCompleted")
        kill_whole(first)
        killed_at = time.monotonic()
    # Without the lease, the broker would hand the task out again only after its visibility
    # timeout, six hours.
    with celery_worker(env, tmp_path / "second.log"):
        events = wait_for(migrated_url, job_id, "JobSucceeded", timeout_s=LEASE_S * 2 + 60)
        print(f"job done {time.monotonic() - killed_at:.1f} s after its worker was killed")

    starts = [data["attempt"] for kind, data in events if kind == "JobStarted"]
    assert starts == [1, 2]
    assert events[-1][1]["attempt"] == 2
    assert "job.taken_over" in (tmp_path / "second.log").read_text()
    assert order_ids_stored(migrated_url) == (rows, rows, 1, rows)


def test_a_job_cancelled_while_it_runs_stops_and_publishes_nothing(
    migrated_url: str, redis_db: str, dask_cluster: LocalDaskCluster, tmp_path: Path
) -> None:
    write_sales(tmp_path / "sales.csv", 1_000_000, bad_rows=[])
    spec(
        tmp_path,
        {
            "name": "long enough to cancel",
            "source": {"format": "csv", "path": "sales.csv", "partition_mb": 1},
            "sink": {"kind": "parquet", "path": "out/all"},
        },
    )
    env = etl_env(migrated_url, redis_db, tmp_path / "state", dask=dask_cluster.address)

    with celery_worker(env, tmp_path / "worker.log"):
        job_id = submit(env, tmp_path)
        wait_for(migrated_url, job_id, "PartitionCompleted")
        with PostgresEventStore(migrated_url, pool_size=1) as store:
            JobHistory(store).cancel(job_id, "the test cancels it mid-run")
        wait_for_log(tmp_path / "worker.log", "job cancelled; nothing published")
    events = job_events(migrated_url, job_id)

    kinds = [kind for kind, _ in events]
    assert "JobCancelled" in kinds
    assert "JobPublishing" not in kinds
    assert "JobSucceeded" not in kinds
    # The output's folder may have been made; nothing is in it, staging included.
    assert list((tmp_path / "out").glob("*")) + list((tmp_path / "out").glob(".*")) == []


def wait_for_log(path: Path, text: str, timeout_s: float = JOB_TIMEOUT_S) -> None:
    """Poll a log file until it holds ``text``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in path.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in {path} after {timeout_s} s")
