"""Projections: the port a read model implements, and the ones tuskflow ships, by name.

``ProjectionRunner`` (eventstore.postgres.projection) keeps a ``Projection`` up to date;
``builtin_projections()`` are the event store's own; ``jobs.catalog.projections()`` adds the
product's, and is what `tuskflow store replay NAME` rebuilds.
"""

from collections import Counter
from typing import TYPE_CHECKING, Any, Protocol

from tuskflow.eventstore.records import RecordedEvent

if TYPE_CHECKING:  # psycopg is loaded by whoever opens the connection, not by the port
    import psycopg

    Connection = psycopg.Connection[Any]


class Projection(Protocol):
    """A read model built from events: of every stream, or of one category (a stream-id prefix).

    A projection of a category reads only its streams' events, and its checkpoint still moves
    past the other events, so it keeps up cheaply in a store that mostly holds others.
    """

    name: str

    @property
    def category(self) -> str | None:
        """The stream-id prefix of the streams it reads; None for every stream."""

    def setup(self, conn: "Connection") -> None:
        """Create the read model's tables if they are missing."""

    def reset(self, conn: "Connection") -> None:
        """Empty the read model, for a rebuild from the first event."""

    def apply(self, conn: "Connection", events: list[RecordedEvent]) -> None:
        """Fold a page of events into the read model, inside the caller's transaction."""


class EventCounts:
    """How many events of each type the store holds, and the last position of each."""

    name = "event_counts"
    table = "projection_event_counts"
    category: str | None = None

    def setup(self, conn: "Connection") -> None:
        """Create the read model table."""
        conn.execute(
            "CREATE TABLE IF NOT EXISTS projection_event_counts ("
            " event_type text PRIMARY KEY, events bigint NOT NULL, last_position bigint NOT NULL)"
        )

    def reset(self, conn: "Connection") -> None:
        """Empty the read model."""
        conn.execute("DELETE FROM projection_event_counts")

    def apply(self, conn: "Connection", events: list[RecordedEvent]) -> None:
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
    """The event store's own projections, by name."""
    projections: list[Projection] = [EventCounts()]
    return {projection.name: projection for projection in projections}
