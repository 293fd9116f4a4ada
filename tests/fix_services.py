"""Service fixtures: real PostgreSQL, Redis and Kafka for integration and e2e tests.

Each fixture uses the server its TUSKFLOW_* variable names; when that is unset it starts the
service from deploy/local (in the configured state folder) and stops it after the session,
only if this session started it. Kafka needs Java and Maven: without them its tests skip,
except under CI, where a missing service is a failure.
"""

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from tuskflow.config import Settings, ToolMissingError, load_settings
from tuskflow.config.settings import ServiceUrlName
from tuskflow.deploy.local import LocalStack
from tuskflow.eventstore.postgres.migrate import migrate


def in_ci() -> bool:
    """True on the CI runner, where no service test may skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _service_url(request: pytest.FixtureRequest, name: str, field: ServiceUrlName) -> str:
    settings = load_settings()
    external: str | None = getattr(settings, field)
    if external is not None:
        return external
    service = LocalStack(settings).service(name)
    try:
        started = service.start()
    except ToolMissingError as exc:
        if in_ci():
            pytest.fail(f"{exc} (CI: service tests never skip)")
        pytest.skip(str(exc))
    if started:
        stop: Callable[[], object] = service.stop
        request.addfinalizer(stop)
    return service.url


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> str:
    """A URL of a real PostgreSQL database."""
    return _service_url(request, "postgres", "database_url")


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> str:
    """A URL of a real Redis server."""
    return _service_url(request, "redis", "redis_url")


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """Bootstrap servers of a real Apache Kafka broker."""
    return _service_url(request, "kafka", "kafka_bootstrap")


@pytest.fixture(scope="session")
def service_settings(postgres_url: str, redis_url: str, kafka_bootstrap: str) -> Settings:
    """Settings pointing at all three real services."""
    return load_settings(
        database_url=postgres_url, redis_url=redis_url, kafka_bootstrap=kafka_bootstrap
    )


@pytest.fixture
def migrated_url(postgres_url: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema holding a migrated, empty event store."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = with_search_path(postgres_url, schema)
    migrate(url)
    yield url
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def with_search_path(url: str, schema: str) -> str:
    """``url`` with every connection's search_path set to ``schema``."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


_URL_FIELDS: dict[str, ServiceUrlName] = {
    "postgres": "database_url",
    "redis": "redis_url",
    "kafka": "kafka_bootstrap",
}


@pytest.fixture
def restart_service(
    request: pytest.FixtureRequest,
) -> Callable[..., None]:
    """Restart a local service (``postgres``, ``redis`` or ``kafka``) in place, as a crash test
    needs, after ``down_s`` seconds stopped.

    A service given by a TUSKFLOW_* URL is not ours to restart: the test skips locally and
    fails under CI, where every service is local.
    """
    settings = load_settings()
    stack = LocalStack(settings)

    def restart(name: str, down_s: float = 0.0) -> None:
        field = _URL_FIELDS[name]
        if getattr(settings, field) is not None:
            message = f"{name} is external ({field.upper()} set): it cannot be restarted here"
            if in_ci():
                pytest.fail(message)
            pytest.skip(message)
        service = stack.service(name)
        service.stop()
        time.sleep(down_s)
        service.start()

    request.getfixturevalue("postgres_url")
    return restart


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """host:port of a real S3-compatible server (moto in server mode), for the session."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"moto's S3 server did not start on port {port}")
            time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=10)


def s3_url(endpoint: str, bucket: str, prefix: str) -> str:
    """An archive URL in a bucket of the local S3 server (created on first write)."""
    return (
        f"s3://test:secret@{bucket}/{prefix}?endpoint_override={endpoint}&scheme=http"
        "&region=us-east-1&allow_bucket_creation=true"
    )
