"""An atomic append to several streams, each with its expected version.

Private to the PostgreSQL adapter (PostgresEventStore.append_streams). Locking: every stream
row is locked (and its expected version checked) in stream-id order, one statement each, and
only then are the events inserted in one statement, whose events_commit_order trigger takes the
commit-order lock. Every writer takes stream locks in the same order and the commit-order lock
last, so no cycle, hence no deadlock, can form; a conflict is found before any insert, so it
consumes no global position. Idempotency is checked first: an exact retry of a committed append
returns its original positions whatever versions it expects.
"""

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from tuskflow.eventstore.errors import DuplicateEventError, VersionConflictError
from tuskflow.eventstore.postgres._append import EVENT_ID_KEY, RACE_RETRIES, STORED
from tuskflow.eventstore.records import Appended, describe_expected
from tuskflow.eventstore.validation import CheckedAppend

Connection = psycopg.Connection[Any]

_LOCK_ANY = (
    "INSERT INTO streams AS s (stream_id, version) VALUES (%s, %s)"
    " ON CONFLICT (stream_id) DO UPDATE SET version = s.version + excluded.version"
    " RETURNING s.version"
)
# ON CONFLICT locks the existing row even when its WHERE is false: the conflict holds it too.
_LOCK_NEW = (
    "INSERT INTO streams AS s (stream_id, version) VALUES (%s, %s)"
    " ON CONFLICT (stream_id) DO UPDATE SET version = s.version + excluded.version"
    " WHERE s.version = 0 RETURNING s.version"
)
_LOCK_AT = (
    "UPDATE streams AS s SET version = s.version + %s"
    " WHERE s.stream_id = %s AND s.version = %s RETURNING s.version"
)
_ACTUAL = "SELECT coalesce((SELECT version FROM streams WHERE stream_id = %s), 0)"
_INSERT = (
    "INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata)"
    " SELECT * FROM unnest(%s::text[], %s::integer[], %s::uuid[], %s::text[], %s::jsonb[],"
    " %s::jsonb[]) RETURNING global_position, event_id"
)

Appends = dict[str, list[Appended]]


def append_streams(conn: Connection, parts: Sequence[CheckedAppend]) -> Appends:
    """Append to every stream of ``parts`` (in stream-id order) or to none; see the module doc."""
    for _attempt in range(RACE_RETRIES):
        try:
            with conn.transaction():
                stored = _stored(conn, parts)
                if stored is not None:
                    return stored
                return _insert(conn, parts, _lock_streams(conn, parts))
        except pg_errors.UniqueViolation as exc:
            # A concurrent writer stored one of these event_ids first: look again.
            if exc.diag.constraint_name != EVENT_ID_KEY:
                raise
    raise DuplicateEventError("multi-stream append kept racing another writer's event_ids")


def _stored(conn: Connection, parts: Sequence[CheckedAppend]) -> Appends | None:
    """The original positions of an exact retry; None when no event_id is stored."""
    ids = [event.event_id for part in parts for event in part.events]
    rows = {row[0]: row for row in conn.execute(STORED, [ids], prepare=True)}
    if not rows:
        return None
    exact = len(rows) == len(ids) and all(
        rows[event.event_id][3:6] == (part.stream_id, event.event_type, event.data)
        for part in parts
        for event in part.events
    )
    if not exact:
        raise DuplicateEventError(
            f"multi-stream append: {len(rows)} of its {len(ids)} event_ids are stored already"
            " (or with other content); it must be all new events or an exact retry"
        )
    return {
        part.stream_id: [
            Appended(e.event_id, rows[e.event_id][1], rows[e.event_id][2], True)
            for e in part.events
        ]
        for part in parts
    }


def _lock_streams(conn: Connection, parts: Sequence[CheckedAppend]) -> dict[str, int]:
    """Lock each stream row in order and bump it; its first new version. Conflict: raise."""
    first_versions: dict[str, int] = {}
    for part in parts:
        n = len(part.events)
        if part.code < 0:
            row = conn.execute(_LOCK_ANY, [part.stream_id, n], prepare=True).fetchone()
        elif part.code == 0:
            row = conn.execute(_LOCK_NEW, [part.stream_id, n], prepare=True).fetchone()
        else:
            row = conn.execute(_LOCK_AT, [n, part.stream_id, part.code], prepare=True).fetchone()
        if row is None:
            actual = conn.execute(_ACTUAL, [part.stream_id]).fetchone()
            raise VersionConflictError(
                part.stream_id, describe_expected(part.expected), int(actual[0]) if actual else 0
            )
        first_versions[part.stream_id] = int(row[0]) - n + 1
    return first_versions


def _insert(
    conn: Connection, parts: Sequence[CheckedAppend], first_versions: dict[str, int]
) -> Appends:
    columns: list[list[Any]] = [[], [], [], [], [], []]
    versions: dict[Any, int] = {}
    for part in parts:
        for offset, (event, (data, metadata)) in enumerate(
            zip(part.events, part.encoded, strict=True)
        ):
            version = first_versions[part.stream_id] + offset
            versions[event.event_id] = version
            row = (part.stream_id, version, event.event_id, event.event_type, data, metadata)
            for column, value in zip(columns, row, strict=True):
                column.append(value)
    positions = dict(
        (event_id, position) for position, event_id in conn.execute(_INSERT, columns).fetchall()
    )
    return {
        part.stream_id: [
            Appended(e.event_id, positions[e.event_id], versions[e.event_id]) for e in part.events
        ]
        for part in parts
    }
