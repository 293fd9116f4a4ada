"""Each missed and overlap policy with a real `tuskflow beat` process, PostgreSQL and Redis.

Missed: a beat stopped past several fires and started again fires what its entries' policies
say (TUSKFLOW_BEAT_LATE_AFTER_S=3: a fire found more than 3 s late was missed). Overlap: no
ETL worker runs, so every job a fire starts outlives its one-second interval until the test
cancels it, and each policy decides the next fires on that job's state.
"""

import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis

from tests.e2e.beat_processes import beats
from tuskflow.eventstore import PostgresEventStore
from tuskflow.jobs.history import JobHistory

BROKER_DB = 9
SECOND = timedelta(seconds=1)


@pytest.fixture
def broker(redis_url: str) -> Iterator[str]:
    url = urlsplit(redis_url)._replace(path=f"/{BROKER_DB}").geturl()
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


def _schedule(folder: Path, entries: str) -> Path:
    (folder / "data.csv").write_text("a,b\n1,2\n")
    (folder / "tiny.yaml").write_text(
        f"version: 1\nname: tiny\nsource: {{format: csv, path: {folder / 'data.csv'}}}\n"
        f"sink: {{kind: parquet, path: {folder / 'out'}}}\n"
    )
    path = folder / "schedule.yaml"
    path.write_text(f"entries:\n{entries}")
    return path


def _verdicts(url: str) -> dict[str, list[tuple[str, datetime, str | None, str | None]]]:
    """Per entry, in the order recorded: (kind, nominal, job id, skip reason)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT stream_id, event_type, data->>'nominal', data->>'job_id', data->>'reason'"
            " FROM events WHERE starts_with(stream_id, 'schedule-')"
            " AND event_type IN ('FireRecorded', 'FireSkipped') ORDER BY global_position"
        ).fetchall()
    found: dict[str, list[tuple[str, datetime, str | None, str | None]]] = defaultdict(list)
    for stream, kind, nominal, job_id, reason in rows:
        entry = stream.removeprefix("schedule-")
        found[entry].append((kind, datetime.fromisoformat(nominal), job_id, reason))
    return found


def _fired(url: str, entry: str) -> list[datetime]:
    return sorted(n for kind, n, _, _ in _verdicts(url)[entry] if kind == "FireRecorded")


def _wait_until(what: str, check: object, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} within {timeout_s} s"
        time.sleep(0.2)


def test_a_beat_back_after_missed_fires_follows_each_missed_policy(
    migrated_url: str, broker: str, tmp_path: Path
) -> None:
    schedule = _schedule(
        tmp_path,
        "  - {id: m-skip, every: 1s, job: tiny.yaml, overlap: allow, missed: {policy: skip}}\n"
        "  - {id: m-latest, every: 1s, job: tiny.yaml, overlap: allow, missed: {policy: latest}}\n"
        "  - {id: m-all, every: 1s, job: tiny.yaml, overlap: allow,"
        " missed: {policy: all, max_count: 3}}\n",
    )
    entries = ("m-skip", "m-latest", "m-all")
    with beats(schedule, migrated_url, broker, tmp_path, TUSKFLOW_BEAT_LATE_AFTER_S="3") as run:
        run.start("b")
        _wait_until(
            "3 fires of each entry", lambda: all(len(_fired(migrated_url, e)) >= 3 for e in entries)
        )
        assert run.stop_all() == [0]
        before = {entry: _fired(migrated_url, entry)[-1] for entry in entries}
        time.sleep(10)  # ten fires of each pass while no beat runs
        run.start("b")
        _wait_until(
            "fires after the restart",
            lambda: all(_fired(migrated_url, e)[-1] > before[e] + 12 * SECOND for e in entries),
        )
        run.stop_all()
    fired = {entry: _fired(migrated_url, entry) for entry in entries}
    # m-skip's first fire after the restart is the first on time; what the others fired
    # between their last fire before the stop and it are the missed fires they chose.
    on_time = next(n for n in fired["m-skip"] if n > before["m-skip"])
    chosen = {e: [n for n in fired[e] if before[e] < n < on_time] for e in entries}
    skips = [
        reason
        for kind, nominal, _, reason in _verdicts(migrated_url)["m-skip"]
        if kind == "FireSkipped" and nominal > before["m-skip"]
    ]
    print(f"\nmissed fires fired after the restart: {chosen}; m-skip recorded: {skips}")
    assert chosen == {
        "m-skip": [],
        "m-latest": [on_time - SECOND],
        "m-all": [on_time - 3 * SECOND, on_time - 2 * SECOND, on_time - SECOND],
    }
    assert len(skips) == 1
    assert skips[0] is not None
    assert skips[0].startswith("missed: skip (")


def test_each_overlap_policy_decides_on_a_job_that_outlives_its_interval(
    migrated_url: str, broker: str, tmp_path: Path
) -> None:
    schedule = _schedule(
        tmp_path,
        "  - {id: o-skip, every: 1s, job: tiny.yaml, overlap: skip}\n"
        "  - {id: o-buffer, every: 1s, job: tiny.yaml, overlap: buffer_one}\n"
        "  - {id: o-cancel, every: 1s, job: tiny.yaml, overlap: cancel_previous}\n"
        "  - {id: o-allow, every: 1s, job: tiny.yaml, overlap: allow}\n",
    )
    with beats(schedule, migrated_url, broker, tmp_path) as run:
        run.start("b")
        _wait_until("4 fires of o-allow", lambda: len(_fired(migrated_url, "o-allow")) >= 4)
        first_buffered = _fired(migrated_url, "o-buffer")[0]
        cancelled_at = datetime.now(first_buffered.tzinfo)
        job_id = next(
            j for k, _, j, _ in _verdicts(migrated_url)["o-buffer"] if k == "FireRecorded"
        )
        with PostgresEventStore(migrated_url) as store:
            JobHistory(store).cancel(str(job_id), "the test ends it")
        _wait_until("o-buffer's held fire", lambda: len(_fired(migrated_url, "o-buffer")) >= 2)
        time.sleep(2)
        run.stop_all()
    verdicts = _verdicts(migrated_url)
    with PostgresEventStore(migrated_url) as store:
        history = JobHistory(store)
        states = {
            entry: [
                history.load(str(j)).status for k, _, j, _ in verdicts[entry] if k == "FireRecorded"
            ]
            for entry in verdicts
        }
    kinds = {entry: [k for k, _, _, _ in rows] for entry, rows in verdicts.items()}
    reasons = {entry: {r for _, _, _, r in rows if r} for entry, rows in verdicts.items()}
    buffered = _fired(migrated_url, "o-buffer")
    tally = {e: (k.count("FireRecorded"), k.count("FireSkipped")) for e, k in kinds.items()}
    print(f"\nfires and skips by entry: {tally}")
    assert kinds["o-skip"][0] == "FireRecorded"
    assert set(kinds["o-skip"][1:]) == {"FireSkipped"}
    assert all(
        r.startswith("overlap: job ") and r.endswith(" is still submitted")
        for r in reasons["o-skip"]
    )
    assert buffered[1] < cancelled_at  # the held fire keeps its nominal time, earlier than the end
    assert any("one fire is held already" in r for r in reasons["o-buffer"])
    assert states["o-cancel"][:-1] == ["cancelled"] * (len(states["o-cancel"]) - 1)
    assert states["o-cancel"][-1] == "submitted"
    assert "FireSkipped" not in kinds["o-cancel"] + kinds["o-allow"]
    assert set(states["o-allow"]) == {"submitted"}
