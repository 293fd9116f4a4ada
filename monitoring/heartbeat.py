"""A long-running process's heartbeat in ``process_heartbeats``: a thread that upserts the
process's row every INTERVAL_S, and deletes it when stopped.

Every long-running process starts one: a Celery worker (tasks/heartbeat.py), a consumer
(`tuskflow consume`), a beat (scheduler/beat.py). A heartbeat that cannot reach PostgreSQL
logs it and tries again on the next beat; it never stops the process it reports on.
"""

import os
import socket
import threading
from collections.abc import Mapping

import structlog
from psycopg.types.json import Jsonb

from tuskflow.config.database import connect, database_errors
from tuskflow.config.errors import TuskflowError

INTERVAL_S = 5.0
log = structlog.get_logger(__name__)


def process_name(role: str) -> str:
    """This process's row key: host, pid and role."""
    return f"{socket.gethostname()}:{os.getpid()}:{role}"


class Heartbeat:
    """Upserts this process's row every ``interval_s`` from a daemon thread, until stopped."""

    def __init__(
        self,
        database_url: str,
        role: str,
        detail: Mapping[str, object],
        interval_s: float = INTERVAL_S,
    ) -> None:
        self.url, self.role, self.detail, self.interval_s = database_url, role, detail, interval_s
        self.name = process_name(role)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat_until_stopped, name="heartbeat", daemon=True
        )

    def start(self) -> "Heartbeat":
        """Beat once now, then every interval; returns itself."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating and delete the row (a stopped process is not a lost one)."""
        self._stop.set()
        self._thread.join(timeout=self.interval_s + 5)
        try:
            with database_errors(self.url), connect(self.url, "heartbeat") as conn:
                conn.execute("DELETE FROM process_heartbeats WHERE process = %s", [self.name])
        except TuskflowError as exc:
            log.warning("heartbeat.not_removed", process=self.name, error=str(exc))

    def beat(self) -> None:
        """Upsert the row once."""
        with database_errors(self.url), connect(self.url, "heartbeat") as conn:
            conn.execute(
                "INSERT INTO process_heartbeats AS h (process, role, host, pid, detail)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (process) DO UPDATE"
                " SET detail = excluded.detail, beat_at = statement_timestamp()",
                [self.name, self.role, socket.gethostname(), os.getpid(), Jsonb(dict(self.detail))],
            )

    def _beat_until_stopped(self) -> None:
        while True:
            try:
                self.beat()
            except TuskflowError as exc:
                log.warning("heartbeat.failed", process=self.name, error=str(exc))
            if self._stop.wait(self.interval_s):
                return
