"""Replaying dead letters through a (fixed) mapping: the event and the mark commit together."""

from dataclasses import dataclass
from typing import Any

import psycopg

from tuskflow.eventstore.postgres.append import append_prepared
from tuskflow.eventstore.postgres.deadletters import (
    list_dead_letters,
    mark_replayed,
    record_dead_letters,
)
from tuskflow.eventstore.records import Appended, StoredDeadLetter
from tuskflow.eventstore.validation import PreparedEvent
from tuskflow.workers.mapping import MappingSpec, SourceMessage, dead_letter, map_message

Connection = psycopg.Connection[Any]


@dataclass(frozen=True)
class ReplayOutcome:
    """How a replay went: dead letters that became events, and those that failed again."""

    replayed: int
    failed: int


def replay_dead_letters(
    conn: Connection, spec: MappingSpec, max_bytes: int, ids: set[int] | None = None
) -> ReplayOutcome:
    """Map open dead letters again (all, or those in ``ids``); store what maps now.

    A dead letter that maps is appended (as the event it would have been: its event id comes
    from the same source coordinates) and marked replayed in one transaction; one that still
    fails counts another attempt with the new reason.
    """
    replayed = failed = 0
    after = 0
    while page := list_dead_letters(conn, limit=500, after_id=after):
        after = page[-1].id
        for stored in page:
            if ids is not None and stored.id not in ids:
                continue
            if _replay_one(conn, spec, max_bytes, stored):
                replayed += 1
            else:
                failed += 1
    return ReplayOutcome(replayed, failed)


def _replay_one(
    conn: Connection, spec: MappingSpec, max_bytes: int, stored: StoredDeadLetter
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
    with conn.transaction():
        if not isinstance(mapped, PreparedEvent):
            record_dead_letters(conn, [mapped])
            return False
        [item] = append_prepared(conn, [mapped]).items
        if not isinstance(item, Appended):
            record_dead_letters(conn, [dead_letter(message, item.reason)])
            return False
        mark_replayed(conn, stored.id, item.global_position)
    return True
