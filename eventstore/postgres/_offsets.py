"""Source offsets per consumer group, kept in the same transactions as the events they cover.

Private to the PostgreSQL adapter: writers go through PostgresEventStore.write_batch.
"""

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from tuskflow.eventstore.records import OffsetAdvance

Connection = psycopg.Connection[Any]


def load_offsets(
    conn: Connection, group: str, partitions: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """The stored next offsets of these partitions; partitions never written are absent."""
    wanted = list(partitions)
    if not wanted:
        return {}
    rows = conn.execute(
        "SELECT o.topic, o.partition, o.next_offset FROM source_offsets o"
        " JOIN unnest(%s::text[], %s::integer[]) AS w(topic, partition)"
        " ON (o.topic, o.partition) = (w.topic, w.partition)"
        " WHERE o.consumer_group = %s",
        [[t for t, _ in wanted], [p for _, p in wanted], group],
    ).fetchall()
    return {(topic, partition): offset for topic, partition, offset in rows}


def advance_offsets(conn: Connection, group: str, advances: Sequence[OffsetAdvance]) -> bool:
    """Compare-and-set every partition's offset; False when any was moved by someone else.

    Run it in the transaction that appends the events; on False, roll that transaction back:
    this consumer no longer owns at least one of the partitions (it was fenced). One statement
    moves them all, so a batch spanning many partitions costs one round trip.
    """
    if not advances:
        return True
    row = conn.execute(
        _ADVANCE,
        [
            [a.topic for a in advances],
            [a.partition for a in advances],
            [a.expected for a in advances],
            [a.next_offset for a in advances],
            group,
        ],
        prepare=True,
    ).fetchone()
    return row is not None and row[0] == len(advances)


# A partition with no expected offset is created (a concurrent creator wins, and this write
# counts as fenced); the others move only from the offset they expect.
_ADVANCE = """
WITH wanted AS (
    SELECT * FROM unnest(%s::text[], %s::integer[], %s::bigint[], %s::bigint[])
        AS w(topic, partition, expected, next_offset)
), grp AS (SELECT %s::text AS name),
moved AS (
    UPDATE source_offsets o SET next_offset = w.next_offset, updated_at = statement_timestamp()
    FROM wanted w, grp
    WHERE o.consumer_group = grp.name AND o.topic = w.topic AND o.partition = w.partition
      AND o.next_offset = w.expected
    RETURNING 1
), created AS (
    INSERT INTO source_offsets (consumer_group, topic, partition, next_offset)
    SELECT grp.name, w.topic, w.partition, w.next_offset FROM wanted w, grp
    WHERE w.expected IS NULL
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM moved) + (SELECT count(*) FROM created)
"""
