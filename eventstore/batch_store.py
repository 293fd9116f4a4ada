"""The batch-writing port: a consumer's batch of events, dead letters and source progress.

Contract, for every implementation:
- ``prepare`` checks nothing against the store and does no I/O: a consumer prepares the next
  batch while the previous one is written.
- ``write_batch`` is one transaction. Commit order inside it: the source progress first (a
  compare-and-set per partition; when any was moved by someone else it raises FencedError and
  stores nothing), then the dead letters, then the events (so the commit-order lock is held only
  from the events' insert to the commit). An event item is stored, found stored (a duplicate:
  same event_id, stream, type and data) or rejected (its event_id is stored with other content,
  or the database refuses its content); a rejected item that carries its origin becomes a dead
  letter, with the store's reason, in the same transaction.
- ``append_batches`` appends batches in order in one transaction, all or nothing: an item
  stored (or repeated) with other content rolls it back and raises RejectedEventsError. For a
  writer whose events do not fit in memory at once (the ETL event-store sink's publish).
- ``replay_dead_letter`` appends the event a dead letter maps to now and marks the letter
  replayed in one transaction; a rejected event counts another attempt on the letter instead.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tuskflow.eventstore.records import (
    Appended,
    BatchWritten,
    DeadLetter,
    LetterFilter,
    LetterOrigin,
    Rejected,
    SourceProgress,
    StoredDeadLetter,
)
from tuskflow.eventstore.validation import PreparedEvent

Partition = tuple[str, int]


@dataclass(frozen=True)
class PreparedBatch:
    """Events checked and encoded for one store, each with the origin to keep if rejected."""

    events: Sequence[PreparedEvent]
    origins: Sequence[LetterOrigin | None]


def origins_for(
    events: Sequence[PreparedEvent], origins: Sequence[LetterOrigin | None] | None
) -> Sequence[LetterOrigin | None]:
    """One origin (or None) per event; refuses a list of another length."""
    if origins is None:
        return [None] * len(events)
    if len(origins) != len(events):
        raise ValueError(f"{len(origins)} origins for {len(events)} events")
    return origins


class BatchStore(Protocol):
    """Writes a consumer's batches: events, dead letters and source progress together."""

    def prepare(
        self,
        events: Sequence[PreparedEvent],
        origins: Sequence[LetterOrigin | None] | None = None,
    ) -> PreparedBatch:
        """The batch encoded for this store, without I/O; write_batch takes it."""

    def write_batch(
        self,
        batch: PreparedBatch,
        dead_letters: Sequence[DeadLetter] = (),
        progress: SourceProgress | None = None,
    ) -> BatchWritten:
        """Store progress, dead letters and events in one transaction (see the module doc)."""

    def append_batches(self, batches: Iterable[PreparedBatch]) -> int:
        """Append every batch in one transaction, all or nothing; how many events were new."""

    def load_progress(self, group: str, partitions: Iterable[Partition]) -> dict[Partition, int]:
        """The stored next offsets of these partitions; partitions never written are absent."""

    def dead_letters(
        self,
        *,
        include_replayed: bool = False,
        limit: int = 100,
        after_id: int = 0,
        matching: LetterFilter | None = None,
    ) -> list[StoredDeadLetter]:
        """Dead letters in the order they first failed, those ``matching`` only if given."""

    def replay_dead_letter(
        self, dead_letter_id: int, event: PreparedEvent, origin: LetterOrigin
    ) -> Appended | Rejected:
        """Append a dead letter's event and mark the letter replayed, in one transaction."""
