"""The Celery configuration derived from Settings; tasks/ builds its app from this alone."""

from typing import Any

from tuskflow.config.settings import Settings

# Seconds a message stays reserved by a worker before Redis hands it to another; longer than
# any ETL job so that late acknowledgement never runs a healthy job twice.
VISIBILITY_TIMEOUT_S = 6 * 3600

# The module `celery -A` loads: the Celery app lives in tuskflow.tasks.
CELERY_APP_MODULE = "tuskflow.tasks"

# Queue and task names, named once: producers route by them, workers consume them.
ETL_QUEUE = "etl"
RUN_JOB_TASK = "tuskflow.etl.run_job"
# Upkeep of the store, away from ETL jobs: snapshot runs, archive export and verify,
# projection catch-up (tasks/maintenance.py).
MAINTENANCE_QUEUE = "maintenance"
SNAPSHOT_TASK = "tuskflow.snapshots.run"
ARCHIVE_EXPORT_TASK = "tuskflow.archive.export"
ARCHIVE_VERIFY_TASK = "tuskflow.archive.verify"
PROJECTION_TASK = "tuskflow.projections.catch_up"
MAINTENANCE_TASKS = (SNAPSHOT_TASK, ARCHIVE_EXPORT_TASK, ARCHIVE_VERIFY_TASK, PROJECTION_TASK)


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings: Redis broker and results, JSON only, late acks, one message at a time."""
    redis_url = settings.required("redis_url")
    return {
        "broker_url": redis_url,
        "result_backend": redis_url,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_S},
        "result_backend_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_S},
        "broker_connection_retry_on_startup": True,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
        "enable_utc": True,
        "task_routes": {
            RUN_JOB_TASK: {"queue": ETL_QUEUE},
            **{name: {"queue": MAINTENANCE_QUEUE} for name in MAINTENANCE_TASKS},
        },
        "task_track_started": True,
    }
