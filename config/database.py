"""The one way to open a PostgreSQL connection, and the one mapping of its errors.

Every connection tuskflow opens comes from ``connect`` or ``connection_pool``: the same
connect timeout, TCP keepalives (a dead server is noticed in about a minute, not after the
kernel's two hours), an ``application_name`` naming the process role (``pg_stat_activity``
tells which process holds what), and jsonb decoded by orjson. Pools check a connection before
handing it out (``check_idle_connection``), so the first call after a database restart gets a
fresh one instead of an error.

``database_errors`` maps psycopg's errors onto the project's error tree where they leave a
port: lost connections, shutdowns and refused connects are DatabaseUnavailableError, deadlocks
and serialization failures TransientConflictError (both retryable); constraint, data and SQL
errors DatabaseRefusedError (permanent).
"""

import select
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import orjson
import psycopg
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool, PoolTimeout

from tuskflow.config.errors import (
    DatabaseRefusedError,
    DatabaseUnavailableError,
    TransientConflictError,
    TuskflowError,
)

Connection = psycopg.Connection[Any]
CONNECT_TIMEOUT_S = 5
# Seconds before a pool gives up waiting for a connection; a restart takes a few.
POOL_TIMEOUT_S = 5.0
# Seconds a pool keeps retrying a connection it failed to make (psycopg_pool's default).
RECONNECT_TIMEOUT_S = 300.0
# SQLSTATE class 40: the server rolled the transaction back (serialization failure, deadlock).
_TRANSACTION_ROLLBACK = "40"
_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def connection_options(role: str) -> dict[str, Any]:
    """The options every connection is opened with; ``role`` names the process in the server."""
    return {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "application_name": f"tuskflow-{role}",
        **_KEEPALIVES,
    }


def configure(conn: Connection) -> None:
    """Decode jsonb with orjson: reading events is mostly JSON decoding, and orjson is ~2x faster.

    Encoding stays with the standard library (eventstore.validation), which refuses NaN where
    orjson would silently write null.
    """
    set_json_loads(orjson.loads, conn)


def check_idle_connection(conn: Connection) -> None:
    """The pools' check before lending ``conn``; raises for a dead one, which the pool replaces.

    An idle connection has nothing to read: when the server ends it (a restart, an admin
    shutdown, a terminated backend) it writes the reason and closes, and the socket turns
    readable. So one poll of the socket, with no round trip, tells a healthy connection, and
    only one the server has spoken on gets psycopg's full check (an empty query). psycopg's
    check on every loan cost a round trip per call: single appends ran 0.69x as fast.
    A server lost without a word (a host gone) is not seen here; its first call fails with
    DatabaseUnavailableError, which callers retry, and keepalives close it within a minute.
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    poller = select.poll()
    poller.register(conn.pgconn.socket, select.POLLIN)
    if poller.poll(0):
        ConnectionPool.check_connection(conn)


def connect(url: str, role: str, *, autocommit: bool = True) -> Connection:
    """A configured connection to ``url``; DatabaseUnavailableError when it cannot be made."""
    with database_errors(url):
        conn = psycopg.connect(url, autocommit=autocommit, **connection_options(role))
    configure(conn)
    return conn


def probe(url: str, role: str) -> None:
    """Open and close one connection: a one-shot caller (a CLI command, a producer call) learns
    within the connect timeout, and with the server's own reason, that PostgreSQL cannot be
    reached, where a pool would wait out its timeout and say only that it got no connection."""
    connect(url, role).close()


def connection_pool(
    url: str,
    role: str,
    *,
    max_size: int,
    min_size: int = 1,
    timeout_s: float = POOL_TIMEOUT_S,
    reconnect_timeout_s: float = RECONNECT_TIMEOUT_S,
) -> ConnectionPool[Any]:
    """An open pool of autocommit connections to ``url``, each checked before it is lent.

    ``timeout_s`` is how long a caller waits for a connection; ``reconnect_timeout_s`` how long
    the pool keeps retrying (with growing delays) a connection it failed to make. A caller with
    its own backoff (a consumer) passes short ones: it then fails fast while PostgreSQL is away,
    and its next call makes a new attempt at once instead of waiting out the pool's delay.
    """
    return ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, **connection_options(role)},
        configure=configure,
        check=check_idle_connection,
        timeout=timeout_s,
        reconnect_timeout=reconnect_timeout_s,
        open=True,
        name=role,
    )


def describe_server(url: str) -> str:
    """``host:port/database`` of a PostgreSQL URL, without its user or password."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"


def classify(exc: BaseException, url: str | None = None) -> TuskflowError | None:
    """The project's error for a psycopg (or pool) error; None for anything else."""
    where = f"PostgreSQL at {describe_server(url)}" if url else "PostgreSQL"
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if str(getattr(exc, "sqlstate", None) or "").startswith(_TRANSACTION_ROLLBACK):
        return TransientConflictError(f"{where} rolled the transaction back: {first_line}")
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError | PoolTimeout):
        return DatabaseUnavailableError(f"{where} is unreachable: {first_line}")
    if isinstance(exc, psycopg.Error):
        return DatabaseRefusedError(f"{where} refused the statement: {first_line}")
    return None


@contextmanager
def database_errors(url: str | None = None) -> Iterator[None]:
    """Raise psycopg's errors in the block as the project's (see the module doc)."""
    try:
        yield
    except (psycopg.Error, PoolTimeout) as exc:
        mapped = classify(exc, url)
        if mapped is None:
            raise
        raise mapped from exc
