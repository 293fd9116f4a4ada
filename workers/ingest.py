"""One batch of source messages into the event store: events, dead letters and source progress
in a single PostgreSQL transaction.

Commit order, for every source: (1) map the messages; (2) in one transaction append the events,
store the dead letters (including batch items the store rejected) and record the source's
progress (``advance``); (3) commit; (4) only then acknowledge to the source (Kafka commit, Redis
XACK). A crash anywhere before (3) leaves nothing; between (3) and (4) the source re-delivers
and the event ids absorb the duplicates.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog

from eventstore.postgres.append import append_prepared
from eventstore.postgres.deadletters import record_dead_letters
from eventstore.records import DeadLetter, Rejected
from eventstore.validation import PreparedEvent
from workers.mapping import MappingSpec, SourceMessage, dead_letter, map_message

Connection = psycopg.Connection[Any]
Advance = Callable[[Connection], bool]
log = structlog.get_logger(__name__)


class FencedError(Exception):
    """The source's progress was moved by another consumer: this batch is not ours to write."""


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch did."""

    new: int
    duplicates: int
    dead: int
    seconds: float


def write_batch(
    conn: Connection,
    messages: Sequence[SourceMessage],
    spec: MappingSpec,
    max_bytes: int,
    advance: Advance | None = None,
) -> BatchOutcome:
    """Map and store ``messages`` in one transaction; raise FencedError if ``advance`` fails."""
    started = time.perf_counter()
    events: list[PreparedEvent] = []
    sources: list[SourceMessage] = []
    letters: list[DeadLetter] = []
    for message in messages:
        mapped = map_message(spec, message, max_bytes)
        if isinstance(mapped, PreparedEvent):
            events.append(mapped)
            sources.append(message)
        else:
            letters.append(mapped)
    with conn.transaction():
        result = append_prepared(conn, events)
        for source, item in zip(sources, result.items, strict=True):
            if isinstance(item, Rejected):
                letters.append(dead_letter(source, item.reason))
        record_dead_letters(conn, letters)
        if advance is not None and not advance(conn):
            raise FencedError("source offsets were moved by another consumer")
    return BatchOutcome(
        new=len(result.new),
        duplicates=len(result.duplicates),
        dead=len(letters),
        seconds=time.perf_counter() - started,
    )


class Backoff:
    """Exponential waits for retrying an outage: 0.2 s doubling up to ``ceiling_s``."""

    def __init__(self, ceiling_s: float = 10.0) -> None:
        self.ceiling_s = ceiling_s
        self._next = 0.2

    def next_wait(self) -> float:
        """The wait before the next attempt."""
        wait = self._next
        self._next = min(self._next * 2, self.ceiling_s)
        return wait

    def reset(self) -> None:
        """Back to short waits after a success."""
        self._next = 0.2
