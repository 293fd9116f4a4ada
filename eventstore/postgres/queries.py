"""Reads of events and dead letters, and the small writes beside them: snapshots and checkpoints
(every statement on ``checkpoints``, for subscriptions and the projection runner alike)."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from tuskflow.eventstore.errors import PrunedRangeError
from tuskflow.eventstore.records import (
    DeadLetter,
    LetterFilter,
    RecordedEvent,
    Snapshot,
    SnapshotDue,
    StoredDeadLetter,
    StoreStats,
    category_end,
)

Connection = psycopg.Connection[Any]

_COLUMNS = sql.SQL(
    "global_position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at"
)


class StreamBounds(NamedTuple):
    """Where a stream read stops: at a global position, a time, or (forwards) a version."""

    to_position: int | None = None
    until: datetime | None = None
    to_version: int | None = None


UNBOUNDED = StreamBounds()


def read_stream(
    conn: Connection,
    stream_id: str,
    from_version: int = 1,
    *,
    backwards: bool = False,
    limit: int | None = None,
    bounds: StreamBounds = UNBOUNDED,
) -> list[RecordedEvent]:
    """Events of one stream: forwards from ``from_version`` (up to ``bounds.to_version``), or
    backwards down from it."""
    to_position, until, to_version = bounds
    conditions = [sql.SQL("stream_id = %(stream)s")]
    conditions.append(
        sql.SQL("stream_version <= %(version)s" if backwards else "stream_version >= %(version)s")
    )
    if to_version is not None and not backwards:
        conditions.append(sql.SQL("stream_version <= %(to_version)s"))
    if to_position is not None:
        conditions.append(sql.SQL("global_position <= %(to_position)s"))
    if until is not None:
        conditions.append(sql.SQL("recorded_at <= %(until)s"))
    query = sql.SQL(
        "SELECT {} FROM events WHERE {} ORDER BY stream_version {} LIMIT %(limit)s"
    ).format(_COLUMNS, sql.SQL(" AND ").join(conditions), sql.SQL("DESC" if backwards else "ASC"))
    params = {
        "stream": stream_id,
        "version": from_version,
        "to_version": to_version,
        "to_position": to_position,
        "until": until,
        "limit": limit,
    }
    # Built positionally from plain tuples: several times cheaper than a keyword row factory.
    events = [RecordedEvent(*row) for row in conn.execute(query, params, prepare=True)]
    if not backwards and (events[0].stream_version if events else None) != from_version:
        _refuse_pruned_versions(conn, stream_id, from_version, events)
    return events


def _refuse_pruned_versions(
    conn: Connection, stream_id: str, from_version: int, events: list[RecordedEvent]
) -> None:
    """PrunedRangeError when a forward read of a stream does not start at ``from_version``
    although the stream has it: versions are contiguous, so those events were pruned."""
    if not events:
        row = conn.execute(
            "SELECT version FROM streams WHERE stream_id = %s", [stream_id], prepare=True
        ).fetchone()
        if row is None or row[0] < from_version:
            return  # nothing there yet: a stream is read past its end
    first_seen = events[0].global_position if events else 2**63 - 1
    _refuse_pruned(conn, 0, first_seen, f"versions {from_version} and on of {stream_id!r}")


def read_all(
    conn: Connection,
    after: int = 0,
    *,
    limit: int = 1000,
    event_types: Sequence[str] | None = None,
    category: str | None = None,
    to_position: int | None = None,
    check_pruned: bool = True,
) -> list[RecordedEvent]:
    """Events after global position ``after`` (and up to ``to_position``), in global (commit)
    order. PrunedRangeError when pruned events lie between ``after`` and the first returned,
    unless ``check_pruned`` is off (a rebuild that reads those from the archive)."""
    conditions = [sql.SQL("global_position > %(after)s")]
    if to_position is not None:
        conditions.append(sql.SQL("global_position <= %(to_position)s"))
    if event_types is not None:
        conditions.append(sql.SQL("event_type = ANY(%(types)s)"))
    if category is not None:
        conditions.append(sql.SQL("starts_with(stream_id, %(category)s)"))
    query = sql.SQL(
        "SELECT {} FROM events WHERE {} ORDER BY global_position LIMIT %(limit)s"
    ).format(_COLUMNS, sql.SQL(" AND ").join(conditions))
    params = {
        "after": after,
        "types": list(event_types) if event_types is not None else None,
        "category": category,
        "to_position": to_position,
        "limit": limit,
    }
    # Built positionally from plain tuples: several times cheaper than a keyword row factory.
    events = [RecordedEvent(*row) for row in conn.execute(query, params, prepare=True)]
    if check_pruned and events and events[0].global_position > after + 1:
        _refuse_pruned(conn, after, events[0].global_position, f"positions after {after}")
    return events


def _refuse_pruned(conn: Connection, after: int, first_seen: int, what: str) -> None:
    """PrunedRangeError when a pruned day's positions lie between ``after`` and ``first_seen``
    (a gap in what a read returned; gaps are otherwise rolled-back or filtered positions)."""
    rows = conn.execute(
        "SELECT day, location FROM event_prunes WHERE first_position < %s"
        " AND last_position > %s ORDER BY day",
        [first_seen, after],
        prepare=True,
    ).fetchall()
    if rows:
        days = ", ".join(str(day) for day, _ in rows)
        root = str(rows[0][1]).rsplit("/day=", 1)[0]  # a day's location is <archive>/day=...
        raise PrunedRangeError(
            f"{what} include events pruned from the live store (days {days}); they are in the "
            f"archive at {root} (tuskflow archive read DAY)"
        )


def stream_version(conn: Connection, stream_id: str) -> int:
    """The stream's version; 0 when it has no events."""
    row = conn.execute("SELECT version FROM streams WHERE stream_id = %s", [stream_id]).fetchone()
    return int(row[0]) if row else 0


def head(conn: Connection) -> int:
    """The highest committed global position, pruned ones included (positions go on)."""
    row = conn.execute(
        "SELECT greatest(coalesce(max(global_position), 0),"
        " (SELECT coalesce(max(last_position), 0) FROM event_prunes)) FROM events"
    ).fetchone()
    return int(row[0]) if row else 0


def save_snapshot(conn: Connection, snapshot: Snapshot) -> None:
    """Upsert the snapshot unless a later one is stored."""
    conn.execute(
        "INSERT INTO snapshots AS s (stream_id, stream_version, state) VALUES (%s, %s, %s)"
        " ON CONFLICT (stream_id) DO UPDATE"
        " SET stream_version = excluded.stream_version, state = excluded.state,"
        " taken_at = statement_timestamp()"
        " WHERE s.stream_version < excluded.stream_version"
        " OR s.state -> 'schema' IS DISTINCT FROM excluded.state -> 'schema'",
        [snapshot.stream_id, snapshot.stream_version, Jsonb(dict(snapshot.state))],
    )


def snapshots_due(
    conn: Connection, category: str, every: int, schema: int, after: str, limit: int
) -> list[SnapshotDue]:
    """Streams of a category past their snapshot by ``every`` events, in stream-id order (a
    range scan of the streams' primary key)."""
    rows = conn.execute(
        "SELECT s.stream_id, s.version, coalesce(n.stream_version, 0) FROM streams s"
        " LEFT JOIN snapshots n ON n.stream_id = s.stream_id"
        "  AND n.state -> 'schema' = to_jsonb(%(schema)s::int)"
        " WHERE s.stream_id >= %(category)s AND s.stream_id < %(end)s"
        " AND s.stream_id > %(after)s"
        " AND s.version - coalesce(n.stream_version, 0) >= %(every)s"
        " ORDER BY s.stream_id LIMIT %(limit)s",
        {
            "category": category,
            "end": category_end(category),
            "after": after,
            "every": every,
            "schema": schema,
            "limit": limit,
        },
    ).fetchall()
    return [SnapshotDue(*row) for row in rows]


def load_snapshot(conn: Connection, stream_id: str) -> Snapshot | None:
    """The latest snapshot of a stream."""
    row = conn.execute(
        "SELECT stream_id, stream_version, state FROM snapshots WHERE stream_id = %s", [stream_id]
    ).fetchone()
    return Snapshot(row[0], row[1], row[2]) if row else None


def checkpoint(conn: Connection, name: str) -> int:
    """A subscription's last processed position; 0 at first."""
    row = conn.execute("SELECT position FROM checkpoints WHERE name = %s", [name]).fetchone()
    return int(row[0]) if row else 0


def save_checkpoint(conn: Connection, name: str, position: int) -> None:
    """Move a checkpoint forwards, never backwards."""
    conn.execute(
        "INSERT INTO checkpoints AS c (name, position) VALUES (%s, %s)"
        " ON CONFLICT (name) DO UPDATE"
        " SET position = greatest(c.position, excluded.position),"
        " updated_at = statement_timestamp()",
        [name, position],
    )


def lock_checkpoint(conn: Connection, name: str) -> int:
    """Lock a checkpoint's row until the transaction ends, creating it at 0; its position."""
    conn.execute("INSERT INTO checkpoints (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", [name])
    row = conn.execute(
        "SELECT position FROM checkpoints WHERE name = %s FOR UPDATE", [name]
    ).fetchone()
    return int(row[0]) if row else 0


def set_checkpoint(conn: Connection, name: str, position: int) -> None:
    """Set a checkpoint, backwards too (a rebuild's reset); the caller holds its row lock."""
    conn.execute(
        "UPDATE checkpoints SET position = %s, updated_at = statement_timestamp() WHERE name = %s",
        [position, name],
    )


def stats(conn: Connection) -> StoreStats:
    """Counts of what the store holds live (event count from the streams' versions less what
    was pruned: no full scan)."""
    row = conn.execute(
        "SELECT (SELECT coalesce(sum(version), 0) FROM streams)"
        " - (SELECT coalesce(sum(events_deleted), 0) FROM event_prunes),"
        " (SELECT count(*) FROM streams),"
        " (SELECT greatest(coalesce(max(global_position), 0),"
        " (SELECT coalesce(max(last_position), 0) FROM event_prunes)) FROM events),"
        " (SELECT count(*) FROM snapshots),"
        " (SELECT count(*) FROM dead_letters)"
    ).fetchone()
    assert row is not None
    checkpoints = dict(
        conn.execute("SELECT name, position FROM checkpoints ORDER BY name").fetchall()
    )
    return StoreStats(int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]), checkpoints)


_LETTER_COLUMNS = (
    "id, source, source_key, reason, raw_payload, raw_key, headers, coordinates, attempts,"
    " first_failed_at, last_failed_at, replayed_at, replayed_position"
)


def list_dead_letters(
    conn: Connection,
    *,
    include_replayed: bool = False,
    limit: int = 100,
    after_id: int = 0,
    matching: LetterFilter | None = None,
) -> list[StoredDeadLetter]:
    """Dead letters in the order they first failed, those ``matching`` only if given."""
    conditions, params = _letter_conditions(matching or LetterFilter())
    if not include_replayed:
        conditions.append("replayed_at IS NULL")
    where = " AND ".join(["id > %s", *conditions])
    rows = conn.execute(
        f"SELECT {_LETTER_COLUMNS} FROM dead_letters WHERE {where} ORDER BY id LIMIT %s",  # noqa: S608
        [after_id, *params, limit],
    ).fetchall()
    return [_stored(row) for row in rows]


def _letter_conditions(matching: LetterFilter) -> tuple[list[str], list[Any]]:
    """SQL for LetterFilter.matches: the same letters, chosen by the database."""
    given = [
        ("source = %s", matching.source),
        ("coalesce(coordinates->>'topic', coordinates->>'stream') = %s", matching.origin),
        ("coordinates->'partition' = to_jsonb(%s::int)", matching.partition),
        ("strpos(lower(reason), lower(%s)) > 0", matching.reason),
        ("first_failed_at >= %s", matching.since),
        ("first_failed_at < %s", matching.until),
    ]
    kept = [(sql, value) for sql, value in given if value is not None]
    return [sql for sql, _ in kept], [value for _, value in kept]


def _stored(row: Any) -> StoredDeadLetter:
    (id_, source, key, reason, payload, raw_key, headers, coordinates, attempts, first, last,
     replayed_at, replayed_position) = row  # fmt: skip
    letter = DeadLetter(
        source, key, reason, bytes(payload) if payload is not None else None,
        bytes(raw_key) if raw_key is not None else None, headers, coordinates,
    )  # fmt: skip
    return StoredDeadLetter(id_, letter, attempts, first, last, replayed_at, replayed_position)
