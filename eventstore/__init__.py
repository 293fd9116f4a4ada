"""The event store: append-only versioned streams, snapshots, subscriptions and projections.

``EventStore`` is the port, and ``BatchStore`` the batch-writing port beside it (a consumer's
events, dead letters and source progress in one transaction); ``PostgresEventStore`` and
``InMemoryEventStore`` implement both. ``Projection`` is the port of a read model;
``ProjectionRunner`` keeps one up to date.
"""

from tuskflow.eventstore.aggregate import Aggregate, AggregateRepository
from tuskflow.eventstore.batch_store import BatchStore, PreparedBatch
from tuskflow.eventstore.errors import (
    DuplicateEventError,
    FencedError,
    InvalidEventError,
    RejectedEventsError,
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
    BatchWritten,
    ExpectedVersion,
    LetterOrigin,
    NewEvent,
    OffsetAdvance,
    RecordedEvent,
    Rejected,
    Snapshot,
    SourceProgress,
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
    "BatchStore",
    "BatchWritten",
    "CatchUpSubscription",
    "DuplicateEventError",
    "EventStore",
    "ExpectedVersion",
    "FencedError",
    "InMemoryEventStore",
    "InvalidEventError",
    "LetterOrigin",
    "NewEvent",
    "OffsetAdvance",
    "PostgresEventStore",
    "PreparedBatch",
    "Projection",
    "ProjectionRunner",
    "RecordedEvent",
    "Rejected",
    "RejectedEventsError",
    "Snapshot",
    "SourceProgress",
    "StoreIntegrityError",
    "StreamEvent",
    "Upcaster",
    "VersionConflictError",
    "migrate",
]
