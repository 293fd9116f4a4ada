"""Errors of the event store, on the project's retryable and permanent branches."""

from tuskflow.config.errors import PermanentError, RetryableError


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
