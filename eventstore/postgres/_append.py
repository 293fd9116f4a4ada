"""Writing events on a connection: one stream with an expected version, or a staged batch.

Private to the PostgreSQL adapter (PostgresEventStore). These functions take the caller's
connection, so that a batch's events, source offsets and dead letters share one transaction:
they never commit a transaction they did not begin (see _atomic). On an autocommit connection a
single append is one round trip.
"""

import uuid
from collections import Counter
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus

from tuskflow.eventstore.batch_store import PreparedBatch, origins_for
from tuskflow.eventstore.errors import (
    DuplicateEventError,
    StoreIntegrityError,
    VersionConflictError,
)
from tuskflow.eventstore.records import (
    Appended,
    BatchResult,
    ExpectedVersion,
    LetterOrigin,
    NewEvent,
    Rejected,
    StreamEvent,
    describe_expected,
)
from tuskflow.eventstore.validation import PreparedEvent, check_append, prepare

Connection = psycopg.Connection[Any]

_APPEND = (
    "SELECT outcome, global_position, stream_version, event_id, same_content, actual_version"
    " FROM tuskflow_append(%s, %s, %s::uuid[], %s::text[], %s::jsonb[], %s::jsonb[])"
)
STORED = (
    "SELECT event_id, global_position, stream_version, stream_id, event_type, data"
    " FROM events WHERE event_id = ANY(%s::uuid[])"
)
# Stream rows are locked in stream-id order, so that concurrent batches cannot deadlock.
_BUMP_STREAMS = (
    "INSERT INTO streams AS s (stream_id, version)"
    " SELECT * FROM unnest(%s::text[], %s::integer[]) ORDER BY 1"
    " ON CONFLICT (stream_id) DO UPDATE SET version = s.version + excluded.version"
    " RETURNING s.stream_id, s.version"
)
_COPY = "COPY events (stream_id, stream_version, event_id, event_type, data, metadata) FROM STDIN"
# While the commit-order lock is held (events_commit_order trigger) no other session draws from
# the identity sequence, so the COPY's rows hold the contiguous positions ending at currval.
_LAST_POSITION = (
    "WITH last AS (SELECT currval(pg_get_serial_sequence('events', 'global_position')) AS p)"
    " SELECT p, (SELECT event_id FROM events WHERE global_position = p - %s + 1),"
    " (SELECT event_id FROM events WHERE global_position = p) FROM last"
)
EVENT_ID_KEY = "events_event_id_key"
RACE_RETRIES = 3


def append_events(
    conn: Connection,
    stream_id: str,
    events: Sequence[NewEvent],
    expected: ExpectedVersion,
    max_bytes: int,
) -> list[Appended]:
    """Append to one stream; see eventstore.store for the contract."""
    checked_id, code, encoded = check_append(stream_id, events, expected, max_bytes)
    params = [
        checked_id,
        code,
        [event.event_id for event in events],
        [event.event_type for event in events],
        [data for data, _ in encoded],
        [metadata for _, metadata in encoded],
    ]
    for _attempt in range(RACE_RETRIES):
        try:
            with _atomic(conn, one_statement=True):
                rows = conn.execute(_APPEND, params, prepare=True).fetchall()
        except pg_errors.UniqueViolation as exc:
            # A concurrent writer stored one of these event_ids first: look again, and the
            # duplicate branch answers with the original positions.
            if exc.diag.constraint_name != EVENT_ID_KEY:
                raise
            continue
        return _appended(checked_id, events, expected, rows)
    raise DuplicateEventError(f"append to {checked_id!r} kept racing another writer's event_ids")


def _appended(
    stream_id: str, events: Sequence[NewEvent], expected: ExpectedVersion, rows: list[Any]
) -> list[Appended]:
    outcome = rows[0][0]
    if outcome == "conflict":
        raise VersionConflictError(stream_id, describe_expected(expected), rows[0][5])
    if outcome == "duplicate":
        stored = {row[3]: row for row in rows}
        mismatched = [str(row[3]) for row in rows if not row[4]]
        if mismatched or len(stored) != len(events):
            raise DuplicateEventError(
                f"append to {stream_id!r}: event_ids {', '.join(sorted(map(str, stored)))} are "
                f"stored already{' with other content' if mismatched else ''}; an append must "
                "be all new events or an exact retry of an earlier append"
            )
        return [
            Appended(event.event_id, stored[event.event_id][1], stored[event.event_id][2], True)
            for event in events
        ]
    return sorted(
        (Appended(row[3], row[1], row[2]) for row in rows), key=lambda a: a.global_position
    )


def append_batch(conn: Connection, items: Sequence[StreamEvent], max_bytes: int) -> BatchResult:
    """Append to many streams in one transaction (or savepoint): the new events go in by COPY.

    Repeats of an event_id within the batch, and event_ids stored before, are duplicates (or
    rejected when their stream, type or data differ); the rest get versions per stream in
    batch order and global positions in batch order.
    """
    return append_prepared(conn, [prepare(item.stream_id, item.event, max_bytes) for item in items])


def append_prepared(conn: Connection, prepared: Sequence[PreparedEvent]) -> BatchResult:
    """append_batch for events already checked and encoded (eventstore.validation.prepare)."""
    return append_encoded(conn, encode_batch(prepared))


@dataclass(frozen=True)
class EncodedBatch(PreparedBatch):
    """Events as COPY text, but for their stream versions, and where each event_id first occurs.

    Built without the database, so that a consumer builds the next batch while this one is
    written.
    """

    heads: list[str]  # each row's first field: the stream id
    tails: list[str]  # each row after the version: event_id, type, data, metadata, newline
    first_seen: dict[uuid.UUID, int]


def encode_batch(
    prepared: Sequence[PreparedEvent], origins: Sequence[LetterOrigin | None] | None = None
) -> EncodedBatch:
    """The COPY text of every event of a batch; append_encoded writes it."""
    heads: list[str] = []
    tails: list[str] = []
    first_seen: dict[uuid.UUID, int] = {}
    for index, (stream_id, event, data, metadata) in enumerate(prepared):
        first_seen.setdefault(event.event_id, index)
        heads.append(_copy_text(stream_id))
        tails.append(
            f"{event.event_id.hex}\t{_copy_text(event.event_type)}\t{_copy_text(data)}\t"
            f"{_copy_text(metadata)}\n"
        )
    return EncodedBatch(prepared, origins_for(prepared, origins), heads, tails, first_seen)


def append_encoded(conn: Connection, batch: EncodedBatch) -> BatchResult:
    """append_prepared for a batch already encoded (encode_batch)."""
    if not batch.events:
        return BatchResult(())
    # The first attempt assumes the common case, a batch holding no stored event_id, and
    # writes at once. The unique index on event_id still guards every row; when it refuses
    # one, the savepoint rolls back and the batch is written again after looking up what is
    # stored (again if a concurrent writer stores one of the ids in between).
    for attempt in range(1 + RACE_RETRIES):
        try:
            with _atomic(conn):
                return BatchResult(tuple(_write_batch(conn, batch, look_up_stored=attempt > 0)))
        except pg_errors.UniqueViolation as exc:
            if exc.diag.constraint_name != EVENT_ID_KEY:
                raise
    raise DuplicateEventError("batch append kept racing another writer's event_ids")


def _write_batch(
    conn: Connection, batch: EncodedBatch, *, look_up_stored: bool
) -> list[Appended | Rejected]:
    rows, first_seen = batch.events, batch.first_seen
    if not look_up_stored and len(first_seen) == len(rows):
        return list(_insert_new(conn, batch, range(len(rows))))
    stored = (
        {row[0]: row for row in conn.execute(STORED, [list(first_seen)], prepare=True)}
        if look_up_stored
        else {}
    )
    new = [i for i in first_seen.values() if rows[i].event.event_id not in stored]
    results: dict[int, Appended | Rejected] = {}
    if new:
        results.update(zip(new, _insert_new(conn, batch, new), strict=True))
    for index, (stream_id, event, _, _) in enumerate(rows):
        if index in results:
            continue
        first = first_seen[event.event_id]
        if first != index:
            results[index] = _repeat(rows[first], rows[index], results.get(first), stored)
        else:
            results[index] = _against_stored(stream_id, event, stored[event.event_id])
    return [results[index] for index in range(len(rows))]


def _insert_new(conn: Connection, batch: EncodedBatch, new: Sequence[int]) -> list[Appended]:
    """COPY the rows at ``new`` (in order), each with the next version of its stream."""
    rows = batch.events
    counts = Counter(rows[index].stream_id for index in new)
    streams = sorted(counts)
    bumped = dict(
        conn.execute(
            _BUMP_STREAMS, [streams, [counts[s] for s in streams]], prepare=True
        ).fetchall()
    )
    next_version = {stream: bumped[stream] - counts[stream] + 1 for stream in streams}
    versions: list[int] = []
    lines: list[str] = []
    for index in new:
        stream_id = rows[index].stream_id
        version = next_version[stream_id]
        next_version[stream_id] = version + 1
        versions.append(version)
        lines.append(f"{batch.heads[index]}\t{version}\t{batch.tails[index]}")
    with conn.cursor().copy(_COPY) as copy:
        copy.write("".join(lines))
    last = conn.execute(_LAST_POSITION, [len(new)], prepare=True).fetchone()
    first_position = last[0] - len(new) + 1 if last else 0
    first_id, last_id = rows[new[0]].event.event_id, rows[new[-1]].event.event_id
    if last is None or (last[1], last[2]) != (first_id, last_id):
        raise StoreIntegrityError(
            "batch append could not confirm the positions of its events: the events_commit_order "
            "trigger must be in place (run `tuskflow db migrate`)"
        )
    return [
        Appended(rows[index].event.event_id, first_position + offset, version)
        for offset, (index, version) in enumerate(zip(new, versions, strict=True))
    ]


def _copy_text(text: str) -> str:
    """``text`` as a field of COPY's text format: backslash, tab and line breaks escaped.

    Rows are written as one block of text: formatting them here costs a third of what
    adapting each row's values through the driver does.
    """
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_COPY_ESCAPES)
    return text


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _same_content(stream_id: str, event: NewEvent, stored: Any) -> bool:
    return bool(
        stored[3] == stream_id and stored[4] == event.event_type and stored[5] == event.data
    )


def _against_stored(stream_id: str, event: NewEvent, stored: Any) -> Appended | Rejected:
    if _same_content(stream_id, event, stored):
        return Appended(event.event_id, stored[1], stored[2], duplicate=True)
    return Rejected(
        event.event_id,
        f"event_id {event.event_id} is stored in {stored[3]!r} as {stored[4]} with other content",
    )


def _repeat(
    first: PreparedEvent,
    again: PreparedEvent,
    first_result: Appended | Rejected | None,
    stored: dict[uuid.UUID, Any],
) -> Appended | Rejected:
    event = again.event
    if (
        first.stream_id != again.stream_id
        or first.event.event_type != event.event_type
        or first.event.data != event.data
    ):
        return Rejected(
            event.event_id, f"event_id {event.event_id} repeats in the batch with other content"
        )
    if first_result is None:
        first_result = _against_stored(first.stream_id, first.event, stored[event.event_id])
    if isinstance(first_result, Rejected):
        return first_result
    return Appended(event.event_id, first_result.global_position, first_result.stream_version, True)


def _atomic(conn: Connection, *, one_statement: bool = False) -> AbstractContextManager[Any]:
    """A block that rolls back alone on error and never commits the caller's transaction.

    Inside the caller's transaction it is a savepoint. On a non-autocommit connection with no
    transaction yet, the caller's (implicit) transaction is begun first, so that psycopg does
    not open and commit one of its own. On an autocommit connection it is a transaction of its
    own, or nothing at all for a single statement, which is atomic by itself.
    """
    status = conn.info.transaction_status
    if conn.autocommit and status == TransactionStatus.IDLE:
        return nullcontext() if one_statement else conn.transaction()
    if status == TransactionStatus.IDLE:
        conn.execute("SELECT 1")  # begins the caller's transaction
    return conn.transaction()
