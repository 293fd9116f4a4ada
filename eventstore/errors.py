"""Errors of the event store, on the project's retryable and permanent branches."""

from collections.abc import Sequence

from tuskflow.config.errors import PermanentError, RetryableError
from tuskflow.eventstore.records import Rejected


class VersionConflictError(RetryableError):
    """The stream is not at the version the writer expected; reload and try again."""

    def __init__(self, stream_id: str, expected: str, actual: int) -> None:
        super().__init__(
            f"version conflict on stream {stream_id!r}: expected {expected}, actual {actual}"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual

    def __reduce__(self) -> tuple[type["VersionConflictError"], tuple[str, str, int]]:
        return (type(self), (self.stream_id, self.expected, self.actual))


class InvalidEventError(PermanentError):
    """An event or an append request that can never be stored as it is."""


class DuplicateEventError(PermanentError):
    """An event_id already stored with other content, or an append mixing stored and new ids."""


class StoreIntegrityError(PermanentError):
    """The database does not hold up a guarantee the store relies on (a missing trigger)."""


class FencedError(PermanentError):
    """A batch's source progress was moved by another consumer: nothing of the batch is stored.

    Permanent, not retryable: the same write, with the same expected offsets, will be refused
    every time, so a generic retry loop would spin on it for ever. The consumer must reload its
    stored offsets (it no longer owns the partition, or owns it from elsewhere) and re-read.
    """


class RejectedEventsError(DuplicateEventError):
    """An all-or-nothing append met event_ids stored (or repeated) with other content, so it
    stored nothing; ``rejected`` names them (those of the first batch that had any)."""

    def __init__(self, rejected: Sequence[Rejected]) -> None:
        first = rejected[0]
        super().__init__(
            f"{len(rejected)} event(s) are stored already with other content (the first: "
            f"{first.reason}); nothing was appended"
        )
        self.rejected = tuple(rejected)

    def __reduce__(self) -> tuple[type["RejectedEventsError"], tuple[tuple[Rejected, ...]]]:
        return (type(self), (self.rejected,))


class PrunedRangeError(PermanentError):
    """A read reached events that were pruned from the live store; the message says which
    and where their archive is (`tuskflow archive read DAY` reads it)."""
