"""Job leases against real PostgreSQL and Redis: held while an attempt runs, dropped after, and
taken over, by one worker alone, when left to expire."""

import json
import time

import psycopg

from tests.integration.etl.conftest import Services
from tuskflow.config.celery import ETL_QUEUE
from tuskflow.eventstore.postgres.store import PostgresEventStore
from tuskflow.jobs.history import JobHistory
from tuskflow.jobs.lease import AttemptLease, take_expired
from tuskflow.tasks.lease_reaper import reap

SPEC_JSON = json.dumps({"version": 1, "name": "n"})


def _leases(url: str) -> dict[str, tuple[int, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT job_id, attempt, worker FROM job_leases").fetchall()
    return {job_id: (attempt, worker) for job_id, attempt, worker in rows}


def _age_lease(url: str, job_id: str, seconds: float) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE job_leases SET renewed_at = statement_timestamp() - make_interval(secs => %s)"
            " WHERE job_id = %s",
            [seconds, job_id],
        )


def _running(url: str, job_id: str) -> None:
    """A job recorded as submitted and started (attempt 1) by a worker that is gone."""
    with PostgresEventStore(url, pool_size=1) as store:
        history = JobHistory(store)
        history.submitted(job_id, "n", SPEC_JSON, "test")
        history.started(job_id, "gone@host", "task-1", partitions=2)


def test_a_lease_is_held_and_renewed_while_the_attempt_runs_and_dropped_after(
    migrated_url: str,
) -> None:
    with AttemptLease(migrated_url, "j1", 1, "w@host", lease_s=0.6):
        held = _leases(migrated_url)
        time.sleep(1.5)  # more than two lease times: renewed meanwhile
        with psycopg.connect(migrated_url) as conn:
            expired_meanwhile = take_expired(conn, 0.6)
    after = _leases(migrated_url)

    assert held == {"j1": (1, "w@host")}
    assert expired_meanwhile == []
    assert after == {}


def test_an_expired_lease_goes_to_one_taker_only(migrated_url: str) -> None:
    with AttemptLease(migrated_url, "j1", 1, "w@host", lease_s=30):
        _age_lease(migrated_url, "j1", 60)
        with psycopg.connect(migrated_url) as conn:
            first = take_expired(conn, 30)
            second = take_expired(conn, 30)

    assert first == [("j1", 1, "w@host")]
    assert second == []


def test_the_reaper_enqueues_a_job_whose_worker_died_and_leaves_the_others(
    services: Services,
) -> None:
    url = services.database_url
    _running(url, "lost")
    _running(url, "alive")
    _running(url, "ended")
    with PostgresEventStore(url, pool_size=1) as store:
        JobHistory(store).succeeded("ended", 1, {"rows_out": 1})
    with psycopg.connect(url) as conn:
        for job_id in ("lost", "alive", "ended"):
            conn.execute(
                "INSERT INTO job_leases (job_id, attempt, worker) VALUES (%s, 1, 'gone@host')",
                [job_id],
            )
    _age_lease(url, "lost", 60)
    _age_lease(url, "ended", 60)

    taken = reap(url, lease_s=30)
    again = reap(url, lease_s=30)

    assert taken == ["lost"]
    assert again == []
    assert services.broker.llen(ETL_QUEUE) == 1
    assert set(_leases(url)) == {"alive"}
