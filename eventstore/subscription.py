"""Catch-up subscriptions: every event after a durable checkpoint, then new ones as they commit.

Delivery is at least once: the handler runs, then the checkpoint moves. A handler that must not
see an event twice keeps its effects and the checkpoint in one transaction: that is a
projection (the ``Projection`` port in eventstore.projections, run by
eventstore.postgres.projection).
"""

import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import structlog

from tuskflow.eventstore.records import RecordedEvent
from tuskflow.eventstore.store import EventStore

Handler = Callable[[list[RecordedEvent]], None]
log = structlog.get_logger(__name__)


class Waker(Protocol):
    """Blocks until new events may have been committed, or the timeout passes."""

    def wait(self, timeout_s: float) -> None:
        """Return early when woken."""


class PollingWaker:
    """No notifications: wait the whole interval (also the fallback when LISTEN is lost)."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self._stop = stop or threading.Event()

    def wait(self, timeout_s: float) -> None:
        """Sleep ``timeout_s`` unless stopped."""
        self._stop.wait(timeout_s)


class CatchUpSubscription:
    """Reads the store from its checkpoint in pages, handing each page to the handler."""

    def __init__(
        self,
        store: EventStore,
        name: str,
        handler: Handler,
        *,
        batch_size: int = 500,
        event_types: Sequence[str] | None = None,
        category: str | None = None,
    ) -> None:
        self.store = store
        self.name = name
        self.handler = handler
        self.batch_size = batch_size
        self.event_types = set(event_types) if event_types is not None else None
        self.category = category

    def catch_up(self) -> int:
        """Handle every event committed now; return how many the handler got."""
        handled = 0
        while True:
            position = self.store.checkpoint(self.name)
            page = self.store.read_all(position, limit=self.batch_size)
            if not page:
                return handled
            # Filtered here, not in SQL, so that the checkpoint moves past skipped events too.
            wanted = [event for event in page if self._wanted(event)]
            if wanted:
                self.handler(wanted)
                handled += len(wanted)
            self.store.save_checkpoint(self.name, page[-1].global_position)

    def run(self, stop: threading.Event, waker: Waker, *, poll_interval_s: float = 1.0) -> None:
        """Catch up, then wait for new commits, until ``stop`` is set."""
        log.info("subscription.started", subscription=self.name)
        while not stop.is_set():
            if self.catch_up() == 0:
                waker.wait(poll_interval_s)
        log.info("subscription.stopped", subscription=self.name)

    def _wanted(self, event: RecordedEvent) -> bool:
        if self.event_types is not None and event.event_type not in self.event_types:
            return False
        return self.category is None or event.stream_id.startswith(self.category)
