"""`tuskflow submit` and `tuskflow jobs ...` as a person runs them, with a real worker."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.e2e.etl_processes import celery_worker, etl_env, private_redis_db

TUSKFLOW = Path(sys.executable).with_name("tuskflow")
REDIS_DB = 1 + (os.getpid() + 7) % 15


def tuskflow(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in ``cwd``; its exit code and output."""
    return subprocess.run(
        [str(TUSKFLOW), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def write_job(folder: Path, quantities: list[str], max_share: float) -> None:
    """orders.csv with these quantities, and spec.yaml summing them into total.csv."""
    rows = [f"{n},{q}" for n, q in enumerate(quantities, start=1)]
    (folder / "orders.csv").write_text("order_id,quantity\n" + "\n".join(rows) + "\n")
    (folder / "spec.yaml").write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "total quantity",
                "source": {
                    "format": "csv",
                    "path": "orders.csv",
                    "columns": {"order_id": "int", "quantity": "int"},
                },
                "transforms": [
                    {"op": "derive", "column": "one", "expr": "1"},
                    {
                        "op": "aggregate",
                        "by": ["one"],
                        "aggregations": {"total": {"fn": "sum", "column": "quantity"}},
                    },
                ],
                "sink": {"kind": "csv", "path": "total.csv"},
                "rejects": {"max_share": max_share},
            },
            sort_keys=False,
        )
    )


def job_id_of(submitted: subprocess.CompletedProcess[str]) -> str:
    """The id `tuskflow submit` printed."""
    assert submitted.returncode in (0, 1), submitted.stderr
    return submitted.stdout.split("submitted job ", 1)[1].split()[0]


def test_submit_wait_list_show_and_retry_after_fixing_the_data(
    migrated_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = etl_env(migrated_url, private_redis_db(redis_url, REDIS_DB), tmp_path / "state", None)
    write_job(tmp_path, ["3", "4", "many"], max_share=0.0)

    with celery_worker(env, tmp_path / "worker.log"):
        failed = tuskflow(env, tmp_path, "submit", "spec.yaml", "--wait")
        job_id = job_id_of(failed)
        write_job(tmp_path, ["3", "4", "5"], max_share=0.0)
        retried = tuskflow(env, tmp_path, "jobs", "retry", job_id, "--wait")
    listed = tuskflow(env, tmp_path, "jobs", "list")
    listed_json = tuskflow(env, tmp_path, "jobs", "list", "--json")
    shown = tuskflow(env, tmp_path, "jobs", "show", job_id[:6])  # a unique start of the id

    assert failed.returncode == 1
    assert "1 of 3 rows rejected" in failed.stdout
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "succeeded" in retried.stdout
    with (tmp_path / "total.csv").open(newline="") as published:
        assert list(csv.reader(published)) == [["one", "total"], ["1", "12"]]
    assert job_id in listed.stdout  # whole, piped and without COLUMNS
    assert "succeeded" in listed.stdout
    [row] = [json.loads(line) for line in listed_json.stdout.splitlines()]
    assert (row["job_id"], row["status"], row["attempt"]) == (job_id, "succeeded", 2)
    assert (row["rows_in"], row["rows_out"], row["rejected"]) == (3, 1, 0)
    assert shown.returncode == 0, shown.stderr
    assert job_id in shown.stdout
    history = [
        line.split()[1]
        for line in shown.stdout.split("history:")[1].splitlines()[1:]
        if line.startswith("  ") and not line.startswith("   ")
    ]
    assert history[:4] == ["JobSubmitted", "JobStarted", "PartitionCompleted", "JobFailed"]
    assert history[4:6] == ["JobRetried", "JobStarted"]
    assert history[-1] == "JobSucceeded"


def test_a_job_cancelled_while_queued_is_never_run(
    migrated_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = etl_env(migrated_url, private_redis_db(redis_url, REDIS_DB), tmp_path / "state", None)
    write_job(tmp_path, ["1", "2"], max_share=0.0)

    job_id = job_id_of(tuskflow(env, tmp_path, "submit", "spec.yaml"))
    cancelled = tuskflow(env, tmp_path, "jobs", "cancel", job_id)
    with celery_worker(env, tmp_path / "worker.log"):
        again = tuskflow(env, tmp_path, "jobs", "cancel", job_id)
    log = (tmp_path / "worker.log").read_text()
    shown = tuskflow(env, tmp_path, "jobs", "show", job_id)

    assert cancelled.returncode == 0, cancelled.stderr
    assert again.returncode == 2
    assert "already cancelled" in again.stderr
    assert "job already ended; not run again" in log
    assert not (tmp_path / "total.csv").exists()
    assert "JobStarted" not in shown.stdout


def test_an_invalid_spec_is_refused_with_every_problem_and_exit_2(
    migrated_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = etl_env(migrated_url, private_redis_db(redis_url, REDIS_DB), tmp_path / "state", None)
    write_job(tmp_path, ["1"], max_share=0.0)
    spec = yaml.safe_load((tmp_path / "spec.yaml").read_text())
    spec["transforms"][0]["expr"] = "quantity +"
    spec["transforms"][1]["by"] = ["nope"]
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))

    refused = tuskflow(env, tmp_path, "submit", "spec.yaml")

    assert refused.returncode == 2
    assert "transforms[0].expr" in refused.stderr
    assert "transforms[1].by" in refused.stderr
    assert "nope" in refused.stderr


def test_ctrl_c_during_submit_wait_says_the_job_goes_on_and_how_to_find_it(
    migrated_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = etl_env(migrated_url, private_redis_db(redis_url, REDIS_DB), tmp_path / "state", None)
    write_job(tmp_path, ["1", "2"], max_share=0.0)
    # No worker runs: the job stays queued while submit --wait follows it.
    waiting = subprocess.Popen(
        [str(TUSKFLOW), "submit", "spec.yaml", "--wait"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert waiting.stdout is not None
    first = waiting.stdout.readline()
    assert first.startswith("submitted job "), first
    job_id = first.split()[2]
    time.sleep(1.0)  # following: the progress bar is up

    waiting.send_signal(signal.SIGINT)
    rest, errors = waiting.communicate(timeout=30)
    shown = tuskflow(env, tmp_path, "jobs", "show", job_id)

    assert waiting.returncode == 130, errors
    assert f"stopped following job {job_id}; it goes on running in the workers." in rest
    assert f"tuskflow jobs cancel {job_id}" in rest
    assert "Traceback" not in errors
    assert f"job {job_id} (total quantity): submitted" in shown.stdout  # not cancelled
