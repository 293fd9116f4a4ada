"""Source offsets per consumer group, kept in the same transactions as the events they cover."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

Connection = psycopg.Connection[Any]


@dataclass(frozen=True)
class OffsetAdvance:
    """Move a partition from ``expected`` (None: no offset stored yet) to ``next_offset``."""

    topic: str
    partition: int
    expected: int | None
    next_offset: int


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
    this consumer no longer owns at least one of the partitions (it was fenced).
    """
    for advance in advances:
        if advance.expected is None:
            row = conn.execute(
                "INSERT INTO source_offsets (consumer_group, topic, partition, next_offset)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
                [group, advance.topic, advance.partition, advance.next_offset],
            ).fetchone()
        else:
            row = conn.execute(
                "UPDATE source_offsets SET next_offset = %s, updated_at = statement_timestamp()"
                " WHERE consumer_group = %s AND topic = %s AND partition = %s"
                " AND next_offset = %s RETURNING 1",
                [advance.next_offset, group, advance.topic, advance.partition, advance.expected],
            ).fetchone()
        if row is None:
            return False
    return True
