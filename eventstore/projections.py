"""The projections tuskflow ships, by name: what `tuskflow store replay NAME` rebuilds."""

from collections import Counter
from typing import Any

import psycopg

from tuskflow.eventstore.postgres.projection import Projection
from tuskflow.eventstore.records import RecordedEvent

Connection = psycopg.Connection[Any]


class EventCounts:
    """How many events of each type the store holds, and the last position of each."""

    name = "event_counts"
    table = "projection_event_counts"
    category: str | None = None

    def setup(self, conn: Connection) -> None:
        """Create the read model table."""
        conn.execute(
            "CREATE TABLE IF NOT EXISTS projection_event_counts ("
            " event_type text PRIMARY KEY, events bigint NOT NULL, last_position bigint NOT NULL)"
        )

    def reset(self, conn: Connection) -> None:
        """Empty the read model."""
        conn.execute("DELETE FROM projection_event_counts")

    def apply(self, conn: Connection, events: list[RecordedEvent]) -> None:
        """Add the page's counts per event type."""
        counts = Counter(event.event_type for event in events)
        last = {event.event_type: event.global_position for event in events}
        types = sorted(counts)
        conn.execute(
            "INSERT INTO projection_event_counts AS p (event_type, events, last_position)"
            " SELECT * FROM unnest(%s::text[], %s::bigint[], %s::bigint[])"
            " ON CONFLICT (event_type) DO UPDATE"
            " SET events = p.events + excluded.events, last_position = excluded.last_position",
            [types, [counts[t] for t in types], [last[t] for t in types]],
        )


def builtin_projections() -> dict[str, Projection]:
    """Every projection tuskflow ships, by name."""
    projections: list[Projection] = [EventCounts()]
    return {projection.name: projection for projection in projections}
