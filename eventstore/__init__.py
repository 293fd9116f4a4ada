"""The event store: append-only versioned streams, snapshots, subscriptions and projections.

``EventStore`` is the port, and ``BatchStore`` the batch-writing port beside it (a consumer's
events, dead letters and source progress in one transaction); ``PostgresEventStore`` and
``InMemoryEventStore`` implement both. ``Projection`` is the port of a read model;
``ProjectionRunner`` keeps one up to date.

The PostgreSQL names (``PostgresEventStore``, ``ProjectionRunner``, ``migrate``) are imported
on first use, so a module that needs only the records or the ports does not load psycopg.
"""

import importlib
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from tuskflow.eventstore.postgres.migrate import migrate
    from tuskflow.eventstore.postgres.projection import ProjectionRunner
    from tuskflow.eventstore.postgres.store import PostgresEventStore

_POSTGRES = {
    "migrate": "tuskflow.eventstore.postgres.migrate",
    "ProjectionRunner": "tuskflow.eventstore.postgres.projection",
    "PostgresEventStore": "tuskflow.eventstore.postgres.store",
}

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


def __getattr__(name: str) -> Any:
    """A PostgreSQL name, imported from its module the first time it is asked for."""
    home = _POSTGRES.get(name)
    if home is None:
        raise AttributeError(f"module 'tuskflow.eventstore' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
