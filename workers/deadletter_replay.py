"""Replaying dead letters through a (fixed) mapping: the event and the mark commit together."""

from collections.abc import Iterator
from dataclasses import dataclass

from tuskflow.eventstore.batch_store import BatchStore
from tuskflow.eventstore.records import Appended, DeadLetter, LetterFilter, StoredDeadLetter
from tuskflow.workers.mapping import MappingSpec, SourceMessage, map_message, origin

_PAGE = 500


@dataclass(frozen=True)
class ReplayOutcome:
    """How a replay went: dead letters that became events, and those that failed again."""

    replayed: int
    failed: int


@dataclass(frozen=True)
class ReplayPreview:
    """What replaying one dead letter would do: the event it maps to now, or why it cannot."""

    id: int
    source_key: str
    stream_id: str | None
    event_type: str | None
    still_failing: str | None


def replay_dead_letters(
    store: BatchStore,
    spec: MappingSpec,
    max_bytes: int,
    ids: set[int] | None = None,
    matching: LetterFilter | None = None,
) -> ReplayOutcome:
    """Map the open dead letters chosen (by ``ids`` and ``matching``) again; store what maps.

    A dead letter that maps is appended (as the event it would have been: its event id comes
    from the same source coordinates) and marked replayed in one transaction; one that still
    fails counts another attempt with the new reason.
    """
    replayed = failed = 0
    for stored in _chosen(store, ids, matching):
        if _replay_one(store, spec, max_bytes, stored):
            replayed += 1
        else:
            failed += 1
    return ReplayOutcome(replayed, failed)


def preview_replay(
    store: BatchStore,
    spec: MappingSpec,
    max_bytes: int,
    ids: set[int] | None = None,
    matching: LetterFilter | None = None,
) -> list[ReplayPreview]:
    """What ``replay_dead_letters`` would do with the same choice; writes nothing.

    The store may still refuse an event that maps (a stream id it will not take): the
    preview shows the mapping's verdict, the replay the store's.
    """
    previews = []
    for stored in _chosen(store, ids, matching):
        mapped = map_message(spec, _message(stored), max_bytes)
        key = stored.letter.source_key
        if isinstance(mapped, DeadLetter):
            previews.append(ReplayPreview(stored.id, key, None, None, mapped.reason))
        else:
            event = mapped.event
            previews.append(ReplayPreview(stored.id, key, mapped.stream_id, event.event_type, None))
    return previews


def _chosen(
    store: BatchStore, ids: set[int] | None, matching: LetterFilter | None
) -> Iterator[StoredDeadLetter]:
    after = 0
    while page := store.dead_letters(limit=_PAGE, after_id=after, matching=matching):
        after = page[-1].id
        yield from (stored for stored in page if ids is None or stored.id in ids)


def _message(stored: StoredDeadLetter) -> SourceMessage:
    letter = stored.letter
    return SourceMessage(
        source=letter.source,
        source_key=letter.source_key,
        coordinates=dict(letter.coordinates),
        key=letter.raw_key,
        value=letter.raw_payload,
        headers=dict(letter.headers),
    )


def _replay_one(
    store: BatchStore, spec: MappingSpec, max_bytes: int, stored: StoredDeadLetter
) -> bool:
    message = _message(stored)
    mapped = map_message(spec, message, max_bytes)
    if isinstance(mapped, DeadLetter):
        store.write_batch(store.prepare([]), [mapped])
        return False
    item = store.replay_dead_letter(stored.id, mapped, origin(message))
    return isinstance(item, Appended)
