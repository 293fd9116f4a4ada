"""A Celery worker's heartbeat (monitoring/heartbeat.py): started when the worker is ready,
with its node name and the queues it consumes, and removed when it shuts down."""

from typing import Any

from celery.signals import worker_ready, worker_shutdown

from tuskflow.monitoring.heartbeat import Heartbeat
from tuskflow.tasks.app import settings

_beating: list[Heartbeat] = []


@worker_ready.connect
def _start_heartbeat(sender: Any = None, **_: Any) -> None:
    if _beating:
        return
    queues = sorted(sender.app.amqp.queues.consume_from or {}) if sender is not None else []
    detail = {"node": getattr(sender, "hostname", ""), "queues": queues}
    _beating.append(Heartbeat(settings().required("database_url"), "celery-worker", detail).start())


@worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    while _beating:
        _beating.pop().stop()
