"""The event store: append-only versioned streams, snapshots, subscriptions and projections.

``EventStore`` is the port; ``PostgresEventStore`` and ``InMemoryEventStore`` implement it.
``Projection`` is the port of a read model; ``ProjectionRunner`` keeps one up to date.
"""

from tuskflow.eventstore.aggregate import Aggregate, AggregateRepository
from tuskflow.eventstore.errors import (
    DuplicateEventError,
    InvalidEventError,
    StoreIntegrityError,
    VersionConflictError,
)
from tuskflow.eventstore.memory import InMemoryEventStore
from tuskflow.eventstore.postgres.migrate import migrate
from tuskflow.eventstore.postgres.projection import ProjectionRunner
from tuskflow.eventstore.postgres.store import PostgresEventStore
from tuskflow.eventstore.projections import Projection
from tuskflow.eventstore.records import (
    ANY,
    NO_STREAM,
    Appended,
    BatchResult,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
    Rejected,
    Snapshot,
    StreamEvent,
)
from tuskflow.eventstore.store import EventStore
from tuskflow.eventstore.subscription import CatchUpSubscription
from tuskflow.eventstore.upcasting import Upcaster

__all__ = [
    "ANY",
    "NO_STREAM",
    "Aggregate",
    "AggregateRepository",
    "Appended",
    "BatchResult",
    "CatchUpSubscription",
    "DuplicateEventError",
    "EventStore",
    "ExpectedVersion",
    "InMemoryEventStore",
    "InvalidEventError",
    "NewEvent",
    "PostgresEventStore",
    "Projection",
    "ProjectionRunner",
    "RecordedEvent",
    "Rejected",
    "Snapshot",
    "StoreIntegrityError",
    "StreamEvent",
    "Upcaster",
    "VersionConflictError",
    "migrate",
]
