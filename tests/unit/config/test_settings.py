"""Settings: read from TUSKFLOW_* variables and .env, wrong values refused by name."""

import os
from pathlib import Path

import pytest

from tuskflow.config import ConfigError, load_settings
from tuskflow.config.celery import celery_config


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No TUSKFLOW_* variable and no .env leaks in from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("TUSKFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_start_no_service_and_log_at_info() -> None:
    settings = load_settings()

    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.kafka_bootstrap is None
    assert settings.dask_scheduler is None
    assert settings.state_dir == Path(".tuskflow")
    assert (settings.log_format, settings.log_level) == ("auto", "INFO")


def test_variables_set_every_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUSKFLOW_DATABASE_URL", "postgresql://app@db.internal:5432/events")
    monkeypatch.setenv("TUSKFLOW_REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("TUSKFLOW_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("TUSKFLOW_DASK_SCHEDULER", "tcp://dask:8786")
    monkeypatch.setenv("TUSKFLOW_STATE_DIR", "/var/lib/tuskflow")
    monkeypatch.setenv("TUSKFLOW_LOG_FORMAT", "json")
    monkeypatch.setenv("TUSKFLOW_LOG_LEVEL", "debug")
    monkeypatch.setenv("TUSKFLOW_LOCAL_REDIS_PORT", "6390")
    monkeypatch.setenv("TUSKFLOW_EVENT_MAX_BYTES", "65536")

    settings = load_settings()

    assert settings.database_url == "postgresql://app@db.internal:5432/events"
    assert settings.redis_url == "redis://cache:6379/2"
    assert settings.kafka_bootstrap == "k1:9092,k2:9092"
    assert settings.dask_scheduler == "tcp://dask:8786"
    assert settings.state_dir == Path("/var/lib/tuskflow")
    assert settings.log_format == "json"
    assert settings.log_level == "DEBUG"
    assert settings.local_redis_port == 6390
    assert settings.event_max_bytes == 65536


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TUSKFLOW_REDIS_URL=redis://from-dotenv:6379/0\n")

    assert load_settings().redis_url == "redis://from-dotenv:6379/0"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("TUSKFLOW_LOG_LEVEL", "LOUD", "DEBUG, INFO, WARNING, ERROR or CRITICAL"),
        ("TUSKFLOW_LOG_FORMAT", "xml", "auto (console on a terminal, else JSON)"),
        ("TUSKFLOW_LOCAL_REDIS_PORT", "99999", "a TCP port for the local Redis"),
        ("TUSKFLOW_LOCAL_POSTGRES_PORT", "five", "a TCP port for the local PostgreSQL"),
        ("TUSKFLOW_DATABASE_URL", "mysql://db/app", "a PostgreSQL URL"),
        ("TUSKFLOW_DATABASE_URL", "postgresql://db:port/app", "a PostgreSQL URL"),
        ("TUSKFLOW_REDIS_URL", "redis://", "a Redis URL"),
        ("TUSKFLOW_KAFKA_BOOTSTRAP", "localhost", "host:port[,host:port...]"),
        ("TUSKFLOW_KAFKA_BOOTSTRAP", "k1:9092,k2:x", "host:port[,host:port...]"),
        ("TUSKFLOW_DASK_SCHEDULER", "dask:8786", "a Dask scheduler address"),
        ("TUSKFLOW_EVENT_MAX_BYTES", "10", "the largest event"),
    ],
)
def test_wrong_value_is_refused_naming_variable_value_and_expectation(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigError) as refused:
        load_settings()

    message = str(refused.value)
    assert f"{variable}={value!r}" in message
    assert expected in message


def test_every_wrong_value_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUSKFLOW_LOG_LEVEL", "LOUD")
    monkeypatch.setenv("TUSKFLOW_LOCAL_KAFKA_PORT", "0")

    with pytest.raises(ConfigError) as refused:
        load_settings()

    assert "TUSKFLOW_LOG_LEVEL" in str(refused.value)
    assert "TUSKFLOW_LOCAL_KAFKA_PORT" in str(refused.value)


def test_missing_service_url_says_how_to_provide_it() -> None:
    with pytest.raises(ConfigError, match="TUSKFLOW_DATABASE_URL is not set") as refused:
        load_settings().required("database_url")

    assert "tuskflow local up" in str(refused.value)


def test_celery_config_is_json_only_with_late_acks_and_single_prefetch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TUSKFLOW_REDIS_URL", "redis://broker:6379/0")

    config = celery_config(load_settings())

    assert config["broker_url"] == "redis://broker:6379/0"
    assert config["accept_content"] == ["json"]
    assert config["task_serializer"] == config["result_serializer"] == "json"
    assert config["task_acks_late"] is True
    assert config["task_reject_on_worker_lost"] is True
    assert config["worker_prefetch_multiplier"] == 1


def test_celery_config_needs_a_redis_url() -> None:
    with pytest.raises(ConfigError, match="TUSKFLOW_REDIS_URL is not set"):
        celery_config(load_settings())
