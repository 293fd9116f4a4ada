"""What the job tests share: settings and a broker of their own for scheduler and tasks."""

import importlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.e2e.etl_processes import private_redis_db
from tuskflow.config.settings import forget_process_settings

# A Redis database per test process, as the e2e tests choose theirs.
REDIS_DB = 1 + os.getpid() % 15
# The module, not the Celery app that the tasks package exports under the same name.
CELERY_APP = importlib.import_module("tuskflow.tasks.app")


@dataclass(frozen=True)
class Services:
    """The database and broker a submit in this test talks to, and a folder for its files."""

    database_url: str
    broker: redis.Redis
    folder: Path


@pytest.fixture
def services(
    monkeypatch: pytest.MonkeyPatch, migrated_url: str, redis_url: str, tmp_path: Path
) -> Iterator[Services]:
    """Settings from the environment pointing at a fresh schema and an emptied Redis database."""
    broker_url = private_redis_db(redis_url, REDIS_DB)
    monkeypatch.setenv("TUSKFLOW_DATABASE_URL", migrated_url)
    monkeypatch.setenv("TUSKFLOW_REDIS_URL", broker_url)
    monkeypatch.setenv("TUSKFLOW_STATE_DIR", str(tmp_path / "state"))
    forget_process_settings()
    # Celery reads its configuration once per process: it must be this test's broker.
    assert CELERY_APP.app.conf.broker_url == broker_url
    broker = redis.Redis.from_url(broker_url)
    (tmp_path / "sales.csv").write_text(
        "region,quantity,price\nnorth,1,2.5\nsouth,3,1.25\nnorth,2,4.0\n"
    )
    try:
        yield Services(migrated_url, broker, tmp_path)
    finally:
        broker.close()
        forget_process_settings()
