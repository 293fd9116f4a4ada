"""Replaying dead letters through a (fixed) mapping: the event and the mark commit together."""

from dataclasses import dataclass

from tuskflow.eventstore.batch_store import BatchStore
from tuskflow.eventstore.records import Appended, StoredDeadLetter
from tuskflow.eventstore.validation import PreparedEvent
from tuskflow.workers.mapping import MappingSpec, SourceMessage, map_message, origin

_PAGE = 500


@dataclass(frozen=True)
class ReplayOutcome:
    """How a replay went: dead letters that became events, and those that failed again."""

    replayed: int
    failed: int


def replay_dead_letters(
    store: BatchStore, spec: MappingSpec, max_bytes: int, ids: set[int] | None = None
) -> ReplayOutcome:
    """Map open dead letters again (all, or those in ``ids``); store what maps now.

    A dead letter that maps is appended (as the event it would have been: its event id comes
    from the same source coordinates) and marked replayed in one transaction; one that still
    fails counts another attempt with the new reason.
    """
    replayed = failed = 0
    after = 0
    while page := store.dead_letters(limit=_PAGE, after_id=after):
        after = page[-1].id
        for stored in page:
            if ids is not None and stored.id not in ids:
                continue
            if _replay_one(store, spec, max_bytes, stored):
                replayed += 1
            else:
                failed += 1
    return ReplayOutcome(replayed, failed)


def _replay_one(
    store: BatchStore, spec: MappingSpec, max_bytes: int, stored: StoredDeadLetter
) -> bool:
    letter = stored.letter
    message = SourceMessage(
        source=letter.source,
        source_key=letter.source_key,
        coordinates=dict(letter.coordinates),
        key=letter.raw_key,
        value=letter.raw_payload,
        headers=dict(letter.headers),
    )
    mapped = map_message(spec, message, max_bytes)
    if not isinstance(mapped, PreparedEvent):
        store.write_batch(store.prepare([]), [mapped])
        return False
    item = store.replay_dead_letter(stored.id, mapped, origin(message))
    return isinstance(item, Appended)
