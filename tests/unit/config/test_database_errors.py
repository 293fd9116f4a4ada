"""psycopg's errors become the project's where they leave a port: retryable or permanent."""

import pickle

import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg_pool import PoolTimeout

from tuskflow.config import (
    DatabaseRefusedError,
    DatabaseUnavailableError,
    PermanentError,
    RetryableError,
    TransientConflictError,
)
from tuskflow.config.database import classify, connection_options, database_errors

URL = "postgresql://alice:secret@db.example:6543/tuskflow"


@pytest.mark.parametrize(
    ("raised", "kind"),
    [
        (
            psycopg.OperationalError("connection failed: Connection refused"),
            DatabaseUnavailableError,
        ),
        (
            pg_errors.AdminShutdown("terminating connection due to administrator command"),
            DatabaseUnavailableError,
        ),
        (
            pg_errors.CannotConnectNow("the database system is starting up"),
            DatabaseUnavailableError,
        ),
        (psycopg.InterfaceError("the connection is closed"), DatabaseUnavailableError),
        (PoolTimeout("couldn't get a connection after 10.00 sec"), DatabaseUnavailableError),
        (pg_errors.SerializationFailure("could not serialize access"), TransientConflictError),
        (pg_errors.DeadlockDetected("deadlock detected"), TransientConflictError),
        (pg_errors.UniqueViolation("duplicate key value"), DatabaseRefusedError),
        (pg_errors.SyntaxError("syntax error at or near"), DatabaseRefusedError),
        (pg_errors.NotNullViolation("null value in column"), DatabaseRefusedError),
    ],
)
def test_driver_errors_map_to_retryable_outages_and_races_and_permanent_refusals(
    raised: Exception, kind: type[Exception]
) -> None:
    with pytest.raises(kind) as mapped, database_errors(URL):
        raise raised

    assert mapped.value.__cause__ is raised
    assert "PostgreSQL at db.example:6543/tuskflow" in str(mapped.value)
    assert "secret" not in str(mapped.value)
    assert issubclass(kind, RetryableError) != issubclass(kind, PermanentError)


def test_outages_and_races_are_retryable_and_refusals_permanent() -> None:
    assert isinstance(classify(pg_errors.AdminShutdown("x")), RetryableError)
    assert isinstance(classify(pg_errors.DeadlockDetected("x")), RetryableError)
    assert isinstance(classify(pg_errors.CheckViolation("x")), PermanentError)


def test_mapped_errors_survive_pickling_as_celery_sends_them() -> None:
    mapped = classify(pg_errors.AdminShutdown("terminating connection"), URL)

    again = pickle.loads(pickle.dumps(mapped))  # noqa: S301  (our own bytes)

    assert type(again) is DatabaseUnavailableError
    assert str(again) == str(mapped)


def test_errors_that_are_not_the_drivers_pass_through_unchanged() -> None:
    with pytest.raises(KeyError), database_errors(URL):
        raise KeyError("not ours to map")


def test_every_connection_names_its_role_and_keeps_alive_with_a_connect_timeout() -> None:
    options = connection_options("consumer")

    assert options["application_name"] == "tuskflow-consumer"
    assert options["connect_timeout"] == 5
    assert options["keepalives"] == 1
