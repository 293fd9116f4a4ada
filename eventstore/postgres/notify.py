"""LISTEN/NOTIFY wake-ups for subscribers; polling takes over while the connection is down."""

import time
from typing import Any

import psycopg
import structlog

from tuskflow.config.database import connect, database_errors
from tuskflow.config.errors import DatabaseUnavailableError

NOTIFY_CHANNEL = "tuskflow_events"
log = structlog.get_logger(__name__)


class NotifyWaker:
    """Returns from ``wait`` as soon as a transaction appending events commits."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection[Any] | None = None

    def wait(self, timeout_s: float) -> str | None:
        """Block until a notification or ``timeout_s``; never raises for a lost connection.

        Returns why the database cannot be heard from while it cannot (then it sleeps the whole
        ``timeout_s``, as a poll), else None.
        """
        try:
            conn = self._connection()
            with database_errors(self.url):
                for _ in conn.notifies(timeout=timeout_s, stop_after=1):
                    pass
        except DatabaseUnavailableError as exc:
            log.warning("notify.lost", error=str(exc), fallback="polling")
            self.close()
            time.sleep(timeout_s)
            return str(exc)
        return None

    def listen(self) -> None:
        """Start listening now, so that nothing committed from here on is missed."""
        try:
            self._connection()
        except DatabaseUnavailableError as exc:
            log.warning("notify.lost", error=str(exc), fallback="polling")

    def close(self) -> None:
        """Close the listening connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.url, "listener")
            with database_errors(self.url):
                self._conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return self._conn
