"""Dead letters: recorded in the caller's transaction, listed, and marked once replayed."""

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tuskflow.eventstore.records import DeadLetter, StoredDeadLetter

Connection = psycopg.Connection[Any]

_RECORD = (
    "INSERT INTO dead_letters AS d"
    " (source, source_key, coordinates, raw_payload, raw_key, headers, reason)"
    " SELECT * FROM unnest(%s::text[], %s::text[], %s::jsonb[], %s::bytea[], %s::bytea[],"
    " %s::jsonb[], %s::text[])"
    " ON CONFLICT (source_key) DO UPDATE"
    " SET attempts = d.attempts + 1, last_failed_at = statement_timestamp(),"
    # A replayed letter stays replayed: its event is stored, this is only a late re-delivery.
    " reason = CASE WHEN d.replayed_at IS NULL THEN excluded.reason ELSE d.reason END"
)
_COLUMNS = (
    "id, source, source_key, reason, raw_payload, raw_key, headers, coordinates, attempts,"
    " first_failed_at, last_failed_at, replayed_at, replayed_position"
)


def record_dead_letters(conn: Connection, letters: Sequence[DeadLetter]) -> None:
    """Store dead letters; one already stored under the same source_key counts an attempt."""
    if not letters:
        return
    # One row per source_key: ON CONFLICT cannot touch the same row twice in a statement.
    letters = list({letter.source_key: letter for letter in letters}.values())
    conn.execute(
        _RECORD,
        [
            [letter.source for letter in letters],
            [letter.source_key for letter in letters],
            [Jsonb(dict(letter.coordinates)) for letter in letters],
            [letter.raw_payload for letter in letters],
            [letter.raw_key for letter in letters],
            [Jsonb(dict(letter.headers)) for letter in letters],
            [letter.reason for letter in letters],
        ],
    )


def list_dead_letters(
    conn: Connection, *, include_replayed: bool = False, limit: int = 100, after_id: int = 0
) -> list[StoredDeadLetter]:
    """Dead letters in the order they first failed."""
    where = "id > %s" + ("" if include_replayed else " AND replayed_at IS NULL")
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM dead_letters WHERE {where} ORDER BY id LIMIT %s",  # noqa: S608
        [after_id, limit],
    ).fetchall()
    return [_stored(row) for row in rows]


def mark_replayed(conn: Connection, dead_letter_id: int, position: int) -> None:
    """Record that a dead letter became the event at ``position``."""
    conn.execute(
        "UPDATE dead_letters SET replayed_at = statement_timestamp(), replayed_position = %s"
        " WHERE id = %s",
        [position, dead_letter_id],
    )


def _stored(row: Any) -> StoredDeadLetter:
    (id_, source, key, reason, payload, raw_key, headers, coordinates, attempts, first, last,
     replayed_at, replayed_position) = row  # fmt: skip
    letter = DeadLetter(
        source, key, reason, bytes(payload) if payload is not None else None,
        bytes(raw_key) if raw_key is not None else None, headers, coordinates,
    )  # fmt: skip
    return StoredDeadLetter(id_, letter, attempts, first, last, replayed_at, replayed_position)
