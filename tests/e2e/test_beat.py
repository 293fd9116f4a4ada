"""Real `tuskflow beat` processes on one schedule, sending to a real Redis: every fire started
once, however many beats run and however often one is SIGKILLed.

The tally of a run: fires expected (every nominal time from the first fire recorded to the
last), started (the ETL task messages in the broker's queue, by job id), missing, doubled.
No ETL worker runs: the queue keeps every message a beat sent.
"""

import json
import os
import random
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis

from tests.e2e.beat_processes import TUSKFLOW, Beats, beats
from tuskflow.config.celery import ETL_QUEUE
from tuskflow.eventstore import PostgresEventStore
from tuskflow.scheduler.fire_ledger import FireLedger, JobToStart, fire_key, job_id_of

pytestmark = pytest.mark.e2e

ENTRY = "often"
EVERY_S = 0.5
BROKER_DB = 7  # a Redis database of its own: the queue holds only this test's messages


@pytest.fixture
def broker(redis_url: str) -> Iterator[str]:
    url = urlsplit(redis_url)._replace(path=f"/{BROKER_DB}").geturl()
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def schedule(tmp_path: Path) -> Path:
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    (tmp_path / "tiny.yaml").write_text(
        f"version: 1\nname: tiny\nsource: {{format: csv, path: {tmp_path / 'data.csv'}}}\n"
        f"sink: {{kind: parquet, path: {tmp_path / 'out'}}}\n"
    )
    path = tmp_path / "schedule.yaml"
    path.write_text(
        f"entries:\n  - {{id: {ENTRY}, every: {EVERY_S}s, job: tiny.yaml, overlap: allow}}\n"
    )
    return path


def _recorded(url: str) -> dict[datetime, str]:
    """Nominal time → job id of every fire recorded for the entry."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT data->>'nominal', data->>'job_id' FROM events"
            " WHERE stream_id = %s AND event_type = 'FireRecorded'",
            [f"schedule-{ENTRY}"],
        ).fetchall()
    return {datetime.fromisoformat(nominal): job_id for nominal, job_id in rows}


def _first_recorded_after(url: str, moment: datetime) -> datetime:
    """When the first fire recorded after ``moment`` was recorded."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT min(recorded_at) FROM events WHERE stream_id = %s"
            " AND event_type = 'FireRecorded' AND recorded_at > %s",
            [f"schedule-{ENTRY}", moment],
        ).fetchone()
    assert row is not None
    first: datetime | None = row[0]
    assert first is not None, "no fire after the resume"
    return first


def _started(broker_url: str) -> Counter[str]:
    """The ETL task messages in the broker's queue, by task id (the job id)."""
    client = redis.Redis.from_url(broker_url)
    messages = client.lrange(ETL_QUEUE, 0, -1)
    client.close()
    return Counter(json.loads(raw)["headers"]["id"] for raw in messages)


def _wait_for_fires(url: str, count: int, beats_running: Beats, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while len(_recorded(url)) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"{len(_recorded(url))} of {count} fires\n{beats_running.log_tail()}")
        time.sleep(0.25)


def _next_nominal(after: datetime) -> datetime:
    """The entry's first nominal time after ``after`` (every EVERY_S from the epoch)."""
    steps = int(after.timestamp() // EVERY_S) + 1
    return datetime.fromtimestamp(steps * EVERY_S, UTC)


def _tally(url: str, broker_url: str) -> dict[str, int]:
    recorded = _recorded(url)
    first, last = min(recorded), max(recorded)
    steps = round((last - first).total_seconds() / EVERY_S)
    expected = [first + timedelta(seconds=EVERY_S * i) for i in range(steps + 1)]
    started = _started(broker_url)
    wanted = {job_id_of(fire_key(ENTRY, nominal)) for nominal in expected}
    tally = {
        "expected": len(expected),
        "started": sum(1 for job_id in wanted if started[job_id]),
        "missing": sum(1 for job_id in wanted if not started[job_id]),
        "doubled": sum(count - 1 for count in started.values() if count > 1),
        "stray": sum(1 for job_id in started if job_id not in wanted),
    }
    print(f"\ntally: {tally}")
    for nominal in expected:
        job_id = job_id_of(fire_key(ENTRY, nominal))
        if not started[job_id]:
            print(f"  missing {nominal.isoformat()}: recorded {nominal in recorded}")
    return tally


def test_three_beats_on_one_schedule_start_each_fire_once(
    schedule: Path, migrated_url: str, broker: str, tmp_path: Path
) -> None:
    with beats(schedule, migrated_url, broker, tmp_path) as running:
        for name in ("beat-a", "beat-b", "beat-c"):
            running.start(name)
        _wait_for_fires(migrated_url, 65, running, timeout_s=90)
        codes = running.stop_all()

    tally = _tally(migrated_url, broker)
    print(f"fires sent per beat: {dict(running.sent_by())}")
    assert codes == [0, 0, 0]
    assert tally["expected"] >= 65
    assert tally == {**tally, "missing": 0, "doubled": 0, "stray": 0}
    assert tally["started"] == tally["expected"]


def test_beats_killed_at_random_and_restarted_lose_and_double_no_fire(
    schedule: Path, migrated_url: str, broker: str, tmp_path: Path
) -> None:
    chance = random.Random(20261204)
    with beats(schedule, migrated_url, broker, tmp_path) as running:
        running.start("beat-a")
        running.start("beat-b")
        _wait_for_fires(migrated_url, 4, running, timeout_s=60)
        # As a beat killed between recording a fire and sending it leaves it: recorded, unsent.
        # Recorded just before it is due, as a beat does (one recorded earlier would move
        # every beat past the fires before it).
        with PostgresEventStore(migrated_url, pool_size=1) as store:
            orphan = _next_nominal(datetime.now(UTC) + timedelta(seconds=EVERY_S))
            time.sleep(max((orphan - datetime.now(UTC)).total_seconds() - 0.15, 0))
            left = FireLedger(store).record(ENTRY, orphan, "schedule", JobToStart("tiny", "{}"))
        assert left is not None
        kills = 0
        for _ in range(8):
            time.sleep(chance.uniform(0.3, 2.5))
            victim = chance.choice(sorted(running.running))
            running.kill(victim)
            kills += 1
            time.sleep(chance.uniform(0.0, 1.0))
            running.start(victim)
        time.sleep(5)  # past the take-over time of the orphan and of any fire a kill left
        codes = running.stop_all()

    tally = _tally(migrated_url, broker)
    print(f"kills: {kills}, fires sent per beat: {dict(running.sent_by())}")
    assert codes == [0, 0]
    assert _started(broker)[left.job_id] == 1  # the orphan: taken over and sent once
    assert tally == {**tally, "missing": 0, "doubled": 0, "stray": 0}
    assert tally["started"] == tally["expected"] >= 20


def _tuskflow(*args: str, url: str, broker_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TUSKFLOW_DATABASE_URL": url, "TUSKFLOW_REDIS_URL": broker_url}
    return subprocess.run(
        [TUSKFLOW, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_an_operator_pauses_resumes_triggers_and_backfills_an_entry_a_beat_runs(
    schedule: Path, migrated_url: str, broker: str, tmp_path: Path
) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        done = _tuskflow(*args, "--schedule", str(schedule), url=migrated_url, broker_url=broker)
        assert done.returncode == 0, done.stderr
        return done

    with beats(schedule, migrated_url, broker, tmp_path) as running:
        running.start("beat-a")
        _wait_for_fires(migrated_url, 3, running, timeout_s=60)
        cli("schedule", "pause", ENTRY, "--note", "upstream late")
        time.sleep(1)  # a tick in flight may still fire once
        paused_at, paused_wall = len(_recorded(migrated_url)), datetime.now(UTC)
        time.sleep(3)
        while_paused = len(_recorded(migrated_url)) - paused_at
        resumed_wall = datetime.now(UTC)
        [listed] = [
            json.loads(line) for line in cli("schedule", "list", "--json").stdout.splitlines()
        ]
        cli("schedule", "resume", ENTRY)
        _wait_for_fires(migrated_url, paused_at + 2, running, timeout_s=30)
        manual = json.loads(cli("schedule", "trigger", ENTRY, "--json").stdout)
        window = ("--from", "2026-12-01T00:00:00", "--to", "2026-12-01T00:00:02")
        first = [
            json.loads(line)
            for line in cli("schedule", "backfill", ENTRY, *window, "--json").stdout.splitlines()
        ]
        again = [
            json.loads(line)
            for line in cli("schedule", "backfill", ENTRY, *window, "--json").stdout.splitlines()
        ]
        assert running.stop_all() == [0]

    first_after = _first_recorded_after(migrated_url, resumed_wall)
    during_pause = [
        n for n in _recorded(migrated_url) if paused_wall < n < first_after - timedelta(seconds=1)
    ]
    shown = [
        json.loads(line) for line in cli("schedule", "show", ENTRY, "--json").stdout.splitlines()
    ]
    started = _started(broker)
    assert while_paused == 0
    # missed: latest, so one fire for the pause's eight or more, not a catch-up storm
    assert len(during_pause) == 1
    assert listed["paused"] == "upstream late"
    assert started[manual["job"]] == 1
    assert [row["job"] is not None for row in first] == [True] * 5
    assert [row["job"] for row in again] == [None] * 5
    assert all(started[row["job"]] == 1 for row in first)
    triggers = Counter(row["trigger"] for row in shown)
    assert (triggers["manual"], triggers["backfill"]) == (1, 5)
    assert all(row["sent"] for row in shown if row["skipped"] is None)


def test_beat_refuses_a_bad_schedule_or_a_busy_metrics_port_in_one_message(
    schedule: Path, migrated_url: str, broker: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "entries:\n  - {id: a, cron: '61 * * * *', job: tiny.yaml}\n"
        "  - {id: b, every: 1s, timezone: Nowhere/Land, job: missing.yaml}\n"
    )
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))  # noqa: S104 (as the metrics would)
        busy.listen()
        port = str(busy.getsockname()[1])
        in_use = _tuskflow("beat", "--schedule", str(schedule), "--metrics-port", port,
                           url=migrated_url, broker_url=broker)  # fmt: skip
    refused = _tuskflow("beat", "--schedule", str(bad), url=migrated_url, broker_url=broker)

    assert in_use.returncode == 2
    assert f"cannot serve beat's metrics on 0.0.0.0:{port}" in in_use.stderr
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr + in_use.stderr
    assert f"schedule file {bad} is invalid (3 problems)" in refused.stderr
    assert "entries[0].cron: '61 * * * *' is not a cron expression" in refused.stderr
    assert "entries[1].timezone: 'Nowhere/Land' is not an IANA time zone" in refused.stderr
    assert f"entries[1].job ({tmp_path / 'missing.yaml'})" in refused.stderr
