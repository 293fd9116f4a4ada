"""`tuskflow archive ...` as an operator runs it: export with a kill in the middle of a day,
verify, list, read, prune with its audit, and a projection rebuilt over the pruned days."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from tests.integration.archive.backdated import write_days
from tuskflow.eventstore import PostgresEventStore

TUSKFLOW = Path(sys.executable).with_name("tuskflow")
REPO = Path(__file__).resolve().parents[2]
TODAY = date.today()
YESTERDAY = TODAY - timedelta(days=1)
BIG_DAY, SMALL_DAY = TODAY - timedelta(days=3), TODAY - timedelta(days=2)


def _env(url: str, archive: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSKFLOW_")}
    env.update(
        PYTHONPATH=str(REPO),
        TUSKFLOW_LOG_FORMAT="json",
        TUSKFLOW_DATABASE_URL=url,
        TUSKFLOW_ARCHIVE_URL=str(archive),
        TUSKFLOW_ARCHIVE_SETTLE_S="0",
    )
    return env


def _tuskflow(url: str, archive: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TUSKFLOW), *args],
        env=_env(url, archive),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _tree(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "_staging" not in path.parts
    }


def test_an_export_killed_mid_day_shows_no_part_of_it_and_the_rerun_writes_identical_files(
    migrated_url: str, tmp_path: Path
) -> None:
    write_days(migrated_url, {BIG_DAY - timedelta(days=1): 1000, BIG_DAY: 700_000})  # 1 + 4 files
    killed_at = tmp_path / "killed"
    staging = killed_at / "_staging" / f"day={BIG_DAY}"
    export = subprocess.Popen(
        [str(TUSKFLOW), "archive", "export", "--until", str(YESTERDAY)],
        env=_env(migrated_url, killed_at),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not (staging.exists() and len(list(staging.glob("*.parquet"))) >= 2):
        assert export.poll() is None, "the export ended before it could be killed"
        assert time.monotonic() < deadline, "the export wrote no second file within 120 s"
        time.sleep(0.02)
    export.send_signal(signal.SIGKILL)
    export.wait()
    listed = _tuskflow(migrated_url, killed_at, "archive", "list", "--json")
    listed_days = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {row["day"]: row["state"] for row in listed_days}[str(BIG_DAY)] != "archived"
    assert not (killed_at / f"day={BIG_DAY}").exists()

    rerun = _tuskflow(migrated_url, killed_at, "archive", "export", "--until", str(YESTERDAY))
    clean = _tuskflow(
        migrated_url,
        killed_at,
        "archive",
        "export",
        "--until",
        str(YESTERDAY),
        "--to",
        str(tmp_path / "clean"),
    )
    assert rerun.returncode == 0, rerun.stderr
    assert clean.returncode == 0, clean.stderr
    assert f"{BIG_DAY}: 700,000 events in 4 files" in rerun.stdout
    assert _tree(killed_at) == _tree(tmp_path / "clean")
    assert len(_tree(killed_at)) == 1 + 4 + 4  # the files of two days, four days' manifests


def test_verify_list_read_prune_and_a_rebuild_over_the_pruned_days(
    migrated_url: str, tmp_path: Path
) -> None:
    days = {BIG_DAY: 300, SMALL_DAY: 120}
    write_days(migrated_url, days)
    with PostgresEventStore(migrated_url) as store:
        stored = [event.global_position for event in store.read_all(0)]
    archive = tmp_path / "archive"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = _tuskflow(migrated_url, archive, *args)
        print(f"$ tuskflow {' '.join(args)}\n{done.stdout}{done.stderr}")
        return done

    assert run("db", "migrate").returncode == 0
    before = run("store", "replay", "event_counts")
    refused = run("archive", "prune", "--before", str(YESTERDAY))
    exported = run("archive", "export", "--until", str(YESTERDAY))
    unverified = run("archive", "prune", "--before", str(YESTERDAY), "--by", "ops@tuskflow")
    verified = run("archive", "verify")
    listed = [json.loads(line) for line in run("archive", "list", "--json").stdout.splitlines()]
    read = run("archive", "read", str(SMALL_DAY))
    pruned = run("archive", "prune", "--before", str(YESTERDAY), "--by", "ops@tuskflow")
    audit = [json.loads(line) for line in run("archive", "prunes", "--json").stdout.splitlines()]
    reverified = run("archive", "verify", str(BIG_DAY))
    after = run("store", "replay", "event_counts")

    assert refused.returncode == 1
    assert f"day {BIG_DAY} is not archived: run tuskflow archive export first" in refused.stderr
    assert exported.returncode == 0
    assert "archived 3 days" in exported.stdout
    assert unverified.returncode == 1
    assert "is archived but not verified" in unverified.stderr
    assert verified.returncode == 0
    assert f"{BIG_DAY}  ok       300 events equal to the store" in verified.stdout
    assert f"{SMALL_DAY}  ok       120 events equal to the store" in verified.stdout
    assert [(row["day"], row["events"], row["state"]) for row in listed] == [
        (str(BIG_DAY), 300, "archived"),
        (str(SMALL_DAY), 120, "archived"),
        (str(YESTERDAY), 0, "archived"),
    ]
    assert all(row["verified_at"] for row in listed)
    lines = [json.loads(line) for line in read.stdout.splitlines()]
    assert [line["position"] for line in lines] == stored[300:]
    assert pruned.returncode == 0
    assert f"{BIG_DAY}: 300 events pruned by ops@tuskflow" in pruned.stdout
    assert [(row["day"], row["events_deleted"], row["pruned_by"]) for row in audit] == [
        (str(BIG_DAY), 300, "ops@tuskflow"),
        (str(SMALL_DAY), 120, "ops@tuskflow"),
    ]
    assert "match the manifest (pruned" in reverified.stdout
    assert before.stdout.splitlines()[-1] == "event_counts: rebuilt from 420 events"
    assert after.returncode == 0, after.stderr
    assert after.stdout.splitlines()[-1] == "event_counts: rebuilt from 420 events"
