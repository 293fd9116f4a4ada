"""Dead letters: recorded in the caller's transaction, and marked once replayed.

Private to the PostgreSQL adapter; listing them is a read (queries.list_dead_letters).
"""

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tuskflow.eventstore.records import DeadLetter

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


def mark_replayed(conn: Connection, dead_letter_id: int, position: int) -> None:
    """Record that a dead letter became the event at ``position``."""
    conn.execute(
        "UPDATE dead_letters SET replayed_at = statement_timestamp(), replayed_position = %s"
        " WHERE id = %s",
        [position, dead_letter_id],
    )
