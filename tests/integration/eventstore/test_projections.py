"""Projections: read model and checkpoint in one transaction, so exactly once, even when shared."""

import threading
import time
from typing import Any

import psycopg

from tuskflow.eventstore import NewEvent, PostgresEventStore, StreamEvent
from tuskflow.eventstore.postgres.projection import ProjectionRunner
from tuskflow.eventstore.projections import EventCounts

EVENTS = 3000


def _fill(url: str, n: int = EVENTS) -> None:
    with PostgresEventStore(url) as store:
        for start in range(0, n, 500):
            store.append_batch(
                [
                    StreamEvent(f"meter-{i % 17}", NewEvent("Read" if i % 3 else "Reset", {"i": i}))
                    for i in range(start, min(start + 500, n))
                ]
            )


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows: list[Any] = conn.execute(
            "SELECT event_type, events FROM projection_event_counts"
        ).fetchall()
    return dict(rows)


def test_runners_sharing_a_projection_apply_each_event_exactly_once(migrated_url: str) -> None:
    _fill(migrated_url)
    runners = [ProjectionRunner(migrated_url, EventCounts(), batch_size=97) for _ in range(3)]
    applied: list[int] = []
    threads = [threading.Thread(target=lambda r=r: applied.append(r.catch_up())) for r in runners]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(applied) == EVENTS
    assert _counts(migrated_url) == {"Read": 2000, "Reset": 1000}


def test_rebuild_from_zero_gives_the_same_read_model(migrated_url: str) -> None:
    _fill(migrated_url)
    runner = ProjectionRunner(migrated_url, EventCounts())
    runner.catch_up()
    pages: list[int] = []

    rebuilt = runner.rebuild(pages.append)

    assert rebuilt == EVENTS
    assert _counts(migrated_url) == {"Read": 2000, "Reset": 1000}
    with PostgresEventStore(migrated_url) as store:
        head = store.head()
        assert store.checkpoint("projection:event_counts") == head
    assert pages == sorted(pages)
    assert pages[-1] == head


def test_one_runner_leads_and_a_standby_takes_over_when_it_stops(migrated_url: str) -> None:
    _fill(migrated_url, 600)
    first_stop, second_stop = threading.Event(), threading.Event()
    first = threading.Thread(
        target=ProjectionRunner(migrated_url, EventCounts()).run,
        args=(first_stop,),
        kwargs={"poll_interval_s": 0.05},
    )
    second = threading.Thread(
        target=ProjectionRunner(migrated_url, EventCounts()).run,
        args=(second_stop,),
        kwargs={"poll_interval_s": 0.05},
    )
    first.start()
    _wait_for(lambda: sum(_counts_or_empty(migrated_url).values()) == 600)
    second.start()
    first_stop.set()
    first.join(timeout=10)
    _fill(migrated_url, 300)

    _wait_for(lambda: sum(_counts_or_empty(migrated_url).values()) == 900)
    second_stop.set()
    second.join(timeout=10)

    assert not first.is_alive()
    assert not second.is_alive()
    assert _counts(migrated_url) == {"Read": 600, "Reset": 300}


def _counts_or_empty(url: str) -> dict[str, int]:
    try:
        return _counts(url)
    except psycopg.errors.UndefinedTable:
        return {}


def _wait_for(condition: Any, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


class _JobCounts(EventCounts):
    """EventCounts over the job-* streams only."""

    name = "job_counts"
    category = "job-"


def _checkpoint(url: str, name: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT position FROM checkpoints WHERE name = %s", [name]).fetchone()
    return int(row[0]) if row else -1


def test_a_category_projection_reads_its_streams_only_and_its_checkpoint_passes_the_rest(
    migrated_url: str,
) -> None:
    with PostgresEventStore(migrated_url) as store:
        store.append("job-1", [NewEvent("Started", {})])
        _fill(migrated_url, 1500)  # events of other streams, before and after
        store.append("job-1", [NewEvent("Finished", {})])
        _fill(migrated_url, 1500)
        head = store.head()
        runner = ProjectionRunner(migrated_url, _JobCounts(), batch_size=100)

        applied = runner.catch_up()
        at_head = _checkpoint(migrated_url, "projection:job_counts")
        store.append("job-2", [NewEvent("Started", {})])
        applied_later = runner.catch_up()

    assert applied == 2
    assert at_head == head
    assert applied_later == 1
    assert _counts(migrated_url) == {"Started": 2, "Finished": 1}
