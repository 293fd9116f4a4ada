"""tuskflow: ETL jobs on Celery and Dask, and streams into a PostgreSQL event store.

The public API, all importable from here:

- producing jobs (tuskflow.scheduler): ``submit``, ``wait``, ``status``, ``cancel``, ``retry``,
  ``history``, ``validate``;
- the event store (tuskflow.eventstore): ``PostgresEventStore``, ``InMemoryEventStore``,
  ``EventStore``, ``NewEvent``, ``StreamEvent``, ``RecordedEvent``, ``Aggregate``,
  ``AggregateRepository``, ``Projection``, ``NO_STREAM``, ``ANY``;
- the errors: ``TuskflowError`` with its ``RetryableError`` and ``PermanentError`` branches,
  ``SpecError`` (an invalid spec, every problem by path), ``UnknownJobError``,
  ``JobStateError``, ``VersionConflictError``.

Each name is imported on first use, so ``import tuskflow`` alone loads neither Celery nor the
ETL engine: the console script and a consumer start without paying for them.
"""

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_HOMES = {
    "tuskflow.scheduler": ("cancel", "history", "retry", "status", "submit", "validate", "wait"),
    "tuskflow.eventstore": (
        "ANY",
        "NO_STREAM",
        "Aggregate",
        "AggregateRepository",
        "EventStore",
        "InMemoryEventStore",
        "NewEvent",
        "PostgresEventStore",
        "Projection",
        "RecordedEvent",
        "StreamEvent",
        "VersionConflictError",
    ),
    "tuskflow.config.errors": ("PermanentError", "RetryableError", "TuskflowError"),
    "tuskflow.etl.errors": ("SpecError",),
    "tuskflow.jobs.history": ("JobStateError", "UnknownJobError"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = [
    "ANY",
    "NO_STREAM",
    "Aggregate",
    "AggregateRepository",
    "EventStore",
    "InMemoryEventStore",
    "JobStateError",
    "NewEvent",
    "PermanentError",
    "PostgresEventStore",
    "Projection",
    "RecordedEvent",
    "RetryableError",
    "SpecError",
    "StreamEvent",
    "TuskflowError",
    "UnknownJobError",
    "VersionConflictError",
    "cancel",
    "history",
    "retry",
    "status",
    "submit",
    "validate",
    "wait",
]

if TYPE_CHECKING:
    from tuskflow.config.errors import PermanentError, RetryableError, TuskflowError
    from tuskflow.etl.errors import SpecError
    from tuskflow.eventstore import (
        ANY,
        NO_STREAM,
        Aggregate,
        AggregateRepository,
        EventStore,
        InMemoryEventStore,
        NewEvent,
        PostgresEventStore,
        Projection,
        RecordedEvent,
        StreamEvent,
        VersionConflictError,
    )
    from tuskflow.jobs.history import JobStateError, UnknownJobError
    from tuskflow.scheduler import cancel, history, retry, status, submit, validate, wait


def __getattr__(name: str) -> Any:
    """A public name, imported from its home the first time it is asked for."""
    home = _HOME_OF.get(name)
    if home is None:
        raise AttributeError(f"module 'tuskflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
