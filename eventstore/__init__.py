"""The event store: append-only versioned streams, snapshots, subscriptions and projections.

``EventStore`` is the port; ``PostgresEventStore`` and ``InMemoryEventStore`` implement it.
"""

from eventstore.aggregate import Aggregate, AggregateRepository
from eventstore.errors import (
    DuplicateEventError,
    InvalidEventError,
    StoreIntegrityError,
    VersionConflictError,
)
from eventstore.memory import InMemoryEventStore
from eventstore.postgres.migrate import migrate
from eventstore.postgres.store import PostgresEventStore
from eventstore.records import (
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
from eventstore.store import EventStore
from eventstore.subscription import CatchUpSubscription
from eventstore.upcasting import Upcaster

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
    "RecordedEvent",
    "Rejected",
    "Snapshot",
    "StoreIntegrityError",
    "StreamEvent",
    "Upcaster",
    "VersionConflictError",
    "migrate",
]
