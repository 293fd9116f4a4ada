"""A consumer's batch in one transaction: source progress, dead letters, then the events.

Private to the PostgreSQL adapter (PostgresEventStore.write_batch); see eventstore.batch_store
for the contract.
"""

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
import structlog

from tuskflow.eventstore.batch_store import PreparedBatch
from tuskflow.eventstore.errors import FencedError, RejectedEventsError
from tuskflow.eventstore.postgres._append import (
    EncodedBatch,
    append_encoded,
    append_prepared,
    encode_batch,
)
from tuskflow.eventstore.postgres._deadletters import mark_replayed, record_dead_letters
from tuskflow.eventstore.postgres._offsets import advance_offsets
from tuskflow.eventstore.records import (
    Appended,
    BatchResult,
    BatchWritten,
    DeadLetter,
    LetterOrigin,
    Rejected,
    SourceProgress,
)
from tuskflow.eventstore.validation import PreparedEvent

Connection = psycopg.Connection[Any]
log = structlog.get_logger(__name__)

# What PostgreSQL (or the driver, encoding text) refuses for an event's content.
_REFUSED = (psycopg.DataError, UnicodeEncodeError)


def write_batch(
    conn: Connection,
    batch: PreparedBatch,
    letters: Sequence[DeadLetter],
    progress: SourceProgress | None,
) -> BatchWritten:
    """Store a batch in one transaction; raise FencedError (storing nothing) if fenced.

    The source's progress moves first, so a fenced batch writes nothing, and the events go in
    last: the commit-order lock their insert takes is then held only from the COPY to the
    commit, which is what other writers of the store wait for.
    """
    encoded = (
        batch if isinstance(batch, EncodedBatch) else encode_batch(batch.events, batch.origins)
    )
    with conn.transaction():
        if progress is not None and not advance_offsets(conn, progress.group, progress.advances):
            raise FencedError(
                f"source offsets of group {progress.group!r} were moved by another consumer"
            )
        record_dead_letters(conn, letters)
        result = _append_or_one_by_one(conn, encoded)
        refused = [
            origin.letter(item.reason)
            for origin, item in zip(encoded.origins, result.items, strict=True)
            if isinstance(item, Rejected) and origin is not None
        ]
        record_dead_letters(conn, refused)
    return BatchWritten(result, len(letters) + len(refused))


def append_batches(conn: Connection, batches: Iterable[PreparedBatch]) -> int:
    """Append every batch, in order, in one transaction; any rejected item rolls it all back."""
    new = 0
    with conn.transaction():
        for batch in batches:
            result = append_encoded(conn, _encoded(batch))
            if result.rejected:
                raise RejectedEventsError(result.rejected)
            new += len(result.new)
    return new


def replay_dead_letter(
    conn: Connection, dead_letter_id: int, event: PreparedEvent, origin: LetterOrigin
) -> Appended | Rejected:
    """Append the event and mark the letter replayed; if rejected, count another attempt."""
    with conn.transaction():
        [item] = _append_or_one_by_one(conn, encode_batch([event])).items
        if isinstance(item, Appended):
            mark_replayed(conn, dead_letter_id, item.global_position)
        else:
            record_dead_letters(conn, [origin.letter(item.reason)])
    return item


def _encoded(batch: PreparedBatch) -> EncodedBatch:
    return batch if isinstance(batch, EncodedBatch) else encode_batch(batch.events, batch.origins)


def _append_or_one_by_one(conn: Connection, batch: EncodedBatch) -> BatchResult:
    try:
        return append_encoded(conn, batch)
    except _REFUSED as exc:
        # Validation should have caught it; never let one event stop the line.
        log.warning("batch.refused", error=str(exc), action="store events one by one")
        return _append_one_by_one(conn, batch.events)


def _append_one_by_one(conn: Connection, events: Sequence[PreparedEvent]) -> BatchResult:
    """Each event in its own savepoint: what is refused becomes Rejected with the reason."""
    items: list[Appended | Rejected] = []
    for event in events:
        try:
            items.extend(append_prepared(conn, [event]).items)
        except _REFUSED as exc:
            items.append(Rejected(event.event.event_id, f"PostgreSQL refused the event: {exc}"))
    return BatchResult(tuple(items))
