"""The projection runner: read models in PostgreSQL updated exactly once per event.

Each step is one transaction that locks the projection's checkpoint row (SELECT ... FOR
UPDATE), reads the events after it, updates the read model and moves the checkpoint. The row
lock is what makes it exactly once even with several processes running the same projection: a
second runner waits for the first to commit, then reads from the moved checkpoint. On top of
that, ``run`` elects one active runner per projection with a session advisory lock, so the
others stand by instead of queueing on the row lock; when the active one dies, its session
ends, the lock is freed and a standby takes over.
"""

import heapq
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import psycopg
import structlog

from tuskflow.config.database import connect, database_errors
from tuskflow.eventstore.postgres import queries
from tuskflow.eventstore.postgres.notify import NotifyWaker
from tuskflow.eventstore.projections import Projection
from tuskflow.eventstore.records import RecordedEvent

Connection = psycopg.Connection[Any]
log = structlog.get_logger(__name__)


class ProjectionRunner:
    """Keeps one projection up to date from the event store."""

    def __init__(self, url: str, projection: Projection, *, batch_size: int = 500) -> None:
        self.url = url
        self.projection = projection
        self.batch_size = batch_size
        self.checkpoint_name = f"projection:{projection.name}"

    def step(self, conn: Connection) -> int:
        """One transaction: lock the checkpoint, apply the next page, move the checkpoint.

        For a category, the page is read up to the head as it was when the step began, and a
        page that is not full moves the checkpoint to that head: every position up to it is
        settled (positions are handed out in commit order), so no later event can land behind.
        """
        category = self.projection.category
        with conn.transaction():
            position = queries.lock_checkpoint(conn, self.checkpoint_name)
            head = queries.head(conn) if category is not None else None
            events = queries.read_all(
                conn, position, limit=self.batch_size, category=category, to_position=head
            )
            if events:
                self.projection.apply(conn, events)
            full = len(events) == self.batch_size
            moved_to = events[-1].global_position if events and (full or head is None) else head
            if moved_to is not None and moved_to > position:
                queries.set_checkpoint(conn, self.checkpoint_name, moved_to)
        return len(events)

    def catch_up(self, progress: Callable[[int], object] | None = None) -> int:
        """Apply every committed event; return how many. After each page ``progress`` is given
        the position the checkpoint reached (a category's checkpoint passes other events too)."""
        total = 0
        with database_errors(self.url), connect(self.url, "projection") as conn:
            self._setup(conn)
            while applied := self.step(conn):
                total += applied
                if progress is not None:
                    progress(queries.checkpoint(conn, self.checkpoint_name))
        return total

    def rebuild(
        self,
        progress: Callable[[int], object] | None = None,
        *,
        pruned: Iterable[RecordedEvent] = (),
        pruned_through: int = 0,
    ) -> int:
        """Empty the read model and apply every event again from the first.

        Over a pruned log, ``pruned`` gives the pruned events in global order (from the
        archive, archive.read_through) up to ``pruned_through``: they are merged with the live
        events of those positions and applied first, then the live store is followed on.
        """
        with database_errors(self.url), connect(self.url, "projection") as conn:
            self._setup(conn)
            with conn.transaction():
                queries.lock_checkpoint(conn, self.checkpoint_name)
                self.projection.reset(conn)
                queries.set_checkpoint(conn, self.checkpoint_name, 0)
            log.info("projection.reset", projection=self.projection.name)
            applied = self._apply_pruned(conn, pruned, pruned_through, progress)
        return applied + self.catch_up(progress)

    def _apply_pruned(
        self,
        conn: Connection,
        pruned: Iterable[RecordedEvent],
        through: int,
        progress: Callable[[int], object] | None,
    ) -> int:
        if through == 0:
            return 0
        live = self._live_below(conn, through)
        merged = heapq.merge(pruned, live, key=lambda event: event.global_position)
        category = self.projection.category
        applied = 0
        while page := list(itertools.islice(merged, self.batch_size)):
            events = [e for e in page if category is None or e.stream_id.startswith(category)]
            with conn.transaction():
                queries.lock_checkpoint(conn, self.checkpoint_name)
                if events:
                    self.projection.apply(conn, events)
                queries.set_checkpoint(conn, self.checkpoint_name, page[-1].global_position)
            applied += len(events)
            if progress is not None:
                progress(page[-1].global_position)
        with conn.transaction():
            queries.lock_checkpoint(conn, self.checkpoint_name)
            queries.set_checkpoint(conn, self.checkpoint_name, through)
        return applied

    def _live_below(self, conn: Connection, through: int) -> Iterator[RecordedEvent]:
        """The live events up to ``through``, past the pruned gaps among them."""
        after = 0
        while page := queries.read_all(
            conn, after, limit=self.batch_size, to_position=through, check_pruned=False
        ):
            yield from page
            after = page[-1].global_position

    def run(self, stop: threading.Event, *, poll_interval_s: float = 1.0) -> None:
        """Stand by until this process holds the projection's lock, then keep it up to date."""
        waker = NotifyWaker(self.url)
        with database_errors(self.url), connect(self.url, "projection") as session:
            try:
                while not stop.is_set():
                    if self._lead(session):
                        self._follow(session, stop, waker, poll_interval_s)
                        return
                    stop.wait(poll_interval_s)
            finally:
                waker.close()

    def _lead(self, session: Connection) -> bool:
        row = session.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s))", [self.checkpoint_name]
        ).fetchone()
        return bool(row and row[0])

    def _follow(
        self, session: Connection, stop: threading.Event, waker: NotifyWaker, poll_s: float
    ) -> None:
        log.info("projection.leading", projection=self.projection.name)
        self._setup(session)
        while not stop.is_set():
            if self.step(session) == 0:
                waker.wait(poll_s)

    def _setup(self, conn: Connection) -> None:
        # CREATE ... IF NOT EXISTS races when two processes run it at once: take turns.
        with conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"setup:{self.checkpoint_name}"]
            )
            self.projection.setup(conn)
