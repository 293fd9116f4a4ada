"""Celery beat for tuskflow: ``celery -A tuskflow.tasks beat -S tuskflow.scheduler.beat:
TuskflowScheduler``, or ``tuskflow beat``. Run as many as you like on one schedule.

The schedule comes from TUSKFLOW_SCHEDULE_FILE, checked whole before beat ticks (a bad file
stops it with every problem listed). There is no shelve file: what fired lives in the event
store (scheduler.fire_ledger), and each tick is scheduler.firing's. A fire's task is the ETL
task of the job it records, sent with the job id as task id.
"""

import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from celery.beat import Scheduler

from tuskflow.config.celery import ETL_QUEUE, MAINTENANCE_QUEUE, RUN_JOB_TASK
from tuskflow.config.errors import ConfigError
from tuskflow.config.settings import process_settings
from tuskflow.eventstore.postgres.store import PostgresEventStore
from tuskflow.jobs.history import JobHistory
from tuskflow.monitoring.heartbeat import Heartbeat
from tuskflow.scheduler.beat_metrics import BeatMetrics
from tuskflow.scheduler.fire_ledger import Fire, FireLedger
from tuskflow.scheduler.firing import Firing, FiringPolicy
from tuskflow.scheduler.schedule_file import load_schedule

# A tick that finds a fire due now returns 0: sleep this little rather than spin.
_MIN_SLEEP_S = 0.01


class TuskflowScheduler(Scheduler):  # type: ignore[misc]  # celery has no types
    """A beat scheduler whose schedule is tuskflow's file and whose memory is PostgreSQL."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("schedule_filename", None)  # no shelve file
        self._store: PostgresEventStore | None = None
        self._firing: Firing | None = None
        self._heartbeat: Heartbeat | None = None
        super().__init__(*args, **kwargs)

    def setup_schedule(self) -> None:
        """Load and check the schedule, open the store: before the first tick."""
        settings = process_settings()
        path = settings.schedule_file
        if path is None:
            raise ConfigError(
                "no schedule file: set TUSKFLOW_SCHEDULE_FILE to the YAML file beat fires from"
            )
        schedule = load_schedule(path)
        self._store = PostgresEventStore(settings.required("database_url"), role="beat")
        policy = FiringPolicy(
            late_after=timedelta(seconds=settings.beat_late_after_s),
            idle_grace=timedelta(seconds=settings.beat_takeover_s),
        )
        metrics = BeatMetrics()
        if settings.beat_metrics_port is not None:
            metrics.serve(settings.beat_metrics_port)
        ledger, history = FireLedger(self._store), JobHistory(self._store)
        self._firing = Firing(schedule, ledger, history, self._send, _name(), policy, metrics)
        detail = {"schedule": str(path), "entries": len(schedule.entries)}
        self._heartbeat = Heartbeat(settings.required("database_url"), "beat", detail).start()

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Fire what is due; the seconds to sleep."""
        assert self._firing is not None, "setup_schedule runs before the first tick"
        return max(self._firing.tick(datetime.now(UTC)), _MIN_SLEEP_S)

    def close(self) -> None:
        """Release the broker connection and the store."""
        super().close()
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def _send(self, fire: Fire) -> None:
        # One producer, and its connection, for every send (as stock beat does), not one each.
        send_fire(self.app, fire, producer=self.producer)


def send_fire(app: Any, fire: Fire, producer: Any = None) -> None:
    """Enqueue the ETL task of the fire's job, with the job id as task id; or a maintenance
    fire's task, with the fire's job id as its task id."""
    if fire.task is not None:
        app.send_task(
            fire.task.name,
            kwargs=dict(fire.task.kwargs),
            task_id=fire.job_id,
            queue=MAINTENANCE_QUEUE,
            producer=producer,
        )
        return
    app.send_task(
        RUN_JOB_TASK, args=[fire.job_id], task_id=fire.job_id, queue=ETL_QUEUE, producer=producer
    )


def _name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
