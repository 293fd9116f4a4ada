"""The project's one error root, with retryable and permanent branches.

Every error carries its message as its only argument so that it survives pickling and the
JSON round trip Celery gives task failures.
"""


class TuskflowError(Exception):
    """Base of every error tuskflow raises on purpose."""


class RetryableError(TuskflowError):
    """A failure that may pass if the same work is tried again later (outage, conflict)."""


class PermanentError(TuskflowError):
    """A failure that the same input will always meet again (bad spec, bad config)."""


class ConfigError(PermanentError):
    """A setting is missing or holds a value tuskflow cannot use."""


class ServiceError(RetryableError):
    """A local service could not be started, reached or stopped."""


class ToolMissingError(PermanentError):
    """A program a local service needs (Java, Maven, a server binary) is not installed."""


class ServiceUnavailableError(RetryableError):
    """A service (PostgreSQL, Redis, Kafka) could not be reached, or dropped the connection.

    ``remedy`` says what a person can do about it; the CLI prints it after the message.
    """

    remedy = "start the local services with `tuskflow local up`"


class DatabaseUnavailableError(ServiceUnavailableError):
    """PostgreSQL could not be reached, shut down, or lost the connection mid-statement."""

    remedy = (
        "start the local services with `tuskflow local up`, "
        "or set TUSKFLOW_DATABASE_URL to a PostgreSQL that runs"
    )


class BrokerUnavailableError(ServiceUnavailableError):
    """Redis, Celery's broker, could not be reached."""

    remedy = (
        "start the local services with `tuskflow local up`, "
        "or set TUSKFLOW_REDIS_URL to a Redis that runs"
    )


class KafkaUnavailableError(ServiceUnavailableError):
    """The Kafka broker could not be reached."""

    remedy = (
        "start it with `tuskflow local up kafka`, "
        "or set TUSKFLOW_KAFKA_BOOTSTRAP to a broker that runs"
    )


class TransientConflictError(RetryableError):
    """PostgreSQL rolled a transaction back to resolve a race (serialization, deadlock)."""


class DatabaseRefusedError(PermanentError):
    """PostgreSQL refused the statement itself (a constraint, bad data, bad SQL)."""
