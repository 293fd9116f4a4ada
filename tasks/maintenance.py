"""Upkeep of the event store on Celery, queue ``maintenance``: snapshot runs, archive export and
verify, and a projection's catch-up; what beat entries fire besides ETL jobs.

Thin, like every task: each turns its message into one call to the core. Each is safe to run
twice or at once with itself: a snapshot run is recorded under its task id (a redelivery
finds its record), an export resumes after the archive's last day, a verify of a day verified
already verifies it again, and a projection step is exactly once by its checkpoint row lock.
"""

from typing import Any

import structlog
from celery import Task

from tuskflow.archive.export import export
from tuskflow.archive.session import archive_session
from tuskflow.archive.verify import verify_day
from tuskflow.config.celery import (
    ARCHIVE_EXPORT_TASK,
    ARCHIVE_VERIFY_TASK,
    PROJECTION_TASK,
    SNAPSHOT_TASK,
)
from tuskflow.config.errors import ConfigError
from tuskflow.config.settings import Settings
from tuskflow.eventstore.postgres.projection import ProjectionRunner
from tuskflow.eventstore.postgres.store import PostgresEventStore
from tuskflow.eventstore.snapshotting import run_snapshots as run
from tuskflow.jobs import catalog
from tuskflow.tasks.app import app, settings

log = structlog.get_logger(__name__)


@app.task(name=SNAPSHOT_TASK, bind=True)
def run_snapshots(self: Task, category: str | None = None) -> dict[str, Any]:
    """Snapshot the due streams of every registered category (or of ``category``)."""
    current = settings()
    policies = catalog.snapshot_policies(current, category)
    with PostgresEventStore(current.required("database_url"), role="snapshots") as store:
        done = run(store, policies, self.request.id or "manual")
    log.info("snapshots.run", run_id=done.run_id, categories=len(done.categories))
    return done.to_data()


@app.task(name=ARCHIVE_EXPORT_TASK)
def export_archive() -> dict[str, Any]:
    """Export every sealed day the archive does not hold yet."""
    current = settings()
    with _archive(current) as (archive_log, destination):
        result = export(archive_log, destination, settle_s=current.archive_settle_s)
    days = [str(manifest.day) for manifest in result.exported]
    return {"exported": days, "last_sealed": str(result.last_sealed)}


@app.task(name=ARCHIVE_VERIFY_TASK)
def verify_archive() -> dict[str, Any]:
    """Verify every archived day not verified yet (`tuskflow archive verify` checks all)."""
    with _archive(settings()) as (archive_log, destination):
        unverified = [day.day for day in archive_log.days() if day.verified_at is None]
        verdicts = [verify_day(archive_log, destination, day) for day in unverified]
    differing = {str(verdict.day): verdict.problems for verdict in verdicts if not verdict.ok}
    if differing:
        log.error("archive.verify_failed", days=sorted(differing))
    return {"verified": [str(v.day) for v in verdicts if v.ok], "differing": differing}


@app.task(name=PROJECTION_TASK)
def catch_up_projection(name: str) -> dict[str, Any]:
    """Apply every committed event to one of tuskflow's projections."""
    projections = catalog.projections()
    if name not in projections:
        raise ConfigError(f"no projection {name!r}; known: {', '.join(sorted(projections))}")
    runner = ProjectionRunner(settings().required("database_url"), projections[name])
    return {"projection": name, "applied": runner.catch_up()}


def _archive(current: Settings) -> Any:
    return archive_session(current.required("database_url"), current.archive_url, "archive-task")
