"""The one Settings object: every process builds it once at its entry point."""

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from tuskflow.config.errors import ConfigError

ENV_PREFIX = "TUSKFLOW_"

LogFormat = Literal["auto", "json", "console"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
ServiceUrlName = Literal["database_url", "redis_url", "kafka_bootstrap"]


def _url_with_scheme(*schemes: str) -> AfterValidator:
    def check(value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in schemes:
            raise ValueError(f"the scheme must be one of {', '.join(schemes)}")
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError("the URL names no host")
        try:
            _ = parts.port
        except ValueError as exc:
            raise ValueError(f"the port is not a number from 0 to 65535 ({exc})") from None
        return value

    return AfterValidator(check)


def _check_bootstrap(value: str | None) -> str | None:
    if value is None:
        return None
    for server in value.split(","):
        host, sep, port = server.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{server.strip()!r} is not host:port")
    return value


def _check_logins(value: str | None) -> str | None:
    if value is None:
        return None
    for login in value.split(","):
        user, sep, password = login.strip().partition(":")
        if not sep or not user or not password:
            raise ValueError("each login must be user:password (several: comma-separated)")
    return value


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


Port = Annotated[int, Field(ge=1, le=65535)]


class SnapshotSetting(BaseModel):
    """A stream category's aggregate (``module:Class``) and how many events after its last
    snapshot make a stream due another."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aggregate: str = Field(pattern=r"^[\w.]+:[\w.]+$")
    every: int = Field(100, ge=1)


class Settings(BaseSettings):
    """Everything a tuskflow process is configured with, read from TUSKFLOW_* variables or .env."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    database_url: Annotated[
        str | None,
        _url_with_scheme("postgresql", "postgres"),
        Field(description="a PostgreSQL URL, postgresql://user@host:port/dbname"),
    ] = None
    redis_url: Annotated[
        str | None,
        _url_with_scheme("redis", "rediss", "unix"),
        Field(description="a Redis URL, redis://host:port/db"),
    ] = None
    kafka_bootstrap: Annotated[
        str | None,
        AfterValidator(_check_bootstrap),
        Field(description="Kafka bootstrap servers, host:port[,host:port...]"),
    ] = None
    dask_scheduler: Annotated[
        str | None,
        _url_with_scheme("tcp", "tls", "inproc", "ucx"),
        Field(description="a Dask scheduler address, tcp://host:port"),
    ] = None
    state_dir: Annotated[Path, Field(description="a folder for local services' data and logs")] = (
        Path(".tuskflow")
    )
    log_format: Annotated[
        LogFormat, Field(description="auto (console on a terminal, else JSON), json or console")
    ] = "auto"
    log_level: Annotated[
        LogLevel,
        BeforeValidator(_upper),
        Field(description="DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    ] = "INFO"
    event_max_bytes: Annotated[
        int, Field(ge=256, description="the largest event (data + metadata, bytes) to store")
    ] = 1024 * 1024
    job_lease_s: Annotated[
        float,
        Field(
            gt=0,
            description="seconds a running ETL attempt's worker may stay silent before "
            "another worker takes the job over",
        ),
    ] = 30.0
    job_retries: Annotated[
        int,
        Field(
            ge=0,
            le=10,
            description="times an ETL attempt broken by an outage (database, broker) is tried "
            "again, after 2, 4, 8... s, before the job is recorded failed",
        ),
    ] = 3
    schedule_file: Annotated[
        Path | None, Field(description="the schedule file beat fires from (YAML)")
    ] = None
    beat_takeover_s: Annotated[
        float,
        Field(
            gt=0,
            description="seconds a fire may stay recorded and unsent (its beat killed between "
            "the two) before another beat sends it",
        ),
    ] = 30.0
    beat_late_after_s: Annotated[
        float,
        Field(
            gt=0,
            description="seconds past its time a fire is still fired on time; a fire found "
            "later (every beat was down) follows its entry's missed policy",
        ),
    ] = 30.0
    beat_metrics_port: Annotated[
        Port | None, Field(description="a TCP port beat serves its Prometheus metrics on")
    ] = None
    snapshot_aggregates: Annotated[
        dict[str, SnapshotSetting],
        Field(
            description='JSON: stream category to aggregate and policy, e.g. {"order-": '
            '{"aggregate": "shop.orders:Order", "every": 50}} (job- is built in)'
        ),
    ] = {}
    archive_url: Annotated[
        str | None,
        Field(
            description="where the event log's archive lives: a folder, or s3://bucket/prefix "
            "(pyarrow's S3 options as query parameters, e.g. ?endpoint_override=host:port)"
        ),
    ] = None
    archive_settle_s: Annotated[
        float,
        Field(
            ge=0,
            description="seconds after a UTC midnight before the day that ended is sealed and "
            "archived (a transaction open since before midnight delays it further)",
        ),
    ] = 3600.0
    flower_basic_auth: Annotated[
        str | None,
        AfterValidator(_check_logins),
        Field(description="Flower's login, user:password (several: comma-separated)"),
    ] = None
    flower_address: Annotated[
        str, Field(description="the address Flower listens on (127.0.0.1: this host only)")
    ] = "127.0.0.1"
    flower_port: Annotated[Port, Field(description="the TCP port Flower listens on")] = 5555
    local_postgres_port: Annotated[
        Port, Field(description="a TCP port for the local PostgreSQL")
    ] = 55432
    local_redis_port: Annotated[Port, Field(description="a TCP port for the local Redis")] = 56379
    local_kafka_port: Annotated[
        Port, Field(description="a TCP port for the local Kafka broker's clients")
    ] = 59092
    local_kafka_controller_port: Annotated[
        Port, Field(description="a TCP port for the local Kafka KRaft controller")
    ] = 59093

    def required(self, name: ServiceUrlName) -> str:
        """Return a service address, or explain how to provide it when it is not set."""
        value: str | None = getattr(self, name)
        if value is None:
            raise ConfigError(
                f"{ENV_PREFIX}{name.upper()} is not set: point it at a running server, or run "
                f'`tuskflow local up` and then `eval "$(tuskflow local env)"`'
            )
        return value


def env_var(field: str) -> str:
    """The environment variable that sets a Settings field."""
    return f"{ENV_PREFIX}{field.upper()}"


_process: list[Settings] = []


def process_settings() -> Settings:
    """This process's settings, loaded once from the environment on first use."""
    if not _process:
        _process.append(load_settings())
    return _process[0]


def forget_process_settings() -> None:
    """Load the process's settings afresh on next use (a test that changed the environment)."""
    _process.clear()


def load_settings(**overrides: object) -> Settings:
    """Build Settings from the environment, turning validation errors into one ConfigError.

    The message names each wrong variable, the value it held and what it expects.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = ["invalid tuskflow configuration:"]
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        info = Settings.model_fields.get(field)
        expected = info.description if info and info.description else "a valid value"
        reason = error["msg"].removeprefix("Value error, ")
        lines.append(f"  {env_var(field)}={error.get('input')!r}: {reason}; expected {expected}")
    return "\n".join(lines)
