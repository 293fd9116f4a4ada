"""The three local services together: what `tuskflow local up|down|status|env` act on."""

import shlex
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from tuskflow.config.errors import ServiceError
from tuskflow.config.settings import Settings
from tuskflow.deploy.local import _process, kafka, postgres, redis
from tuskflow.deploy.local.service import LocalService, ServiceStatus


@dataclass(frozen=True)
class _Slot:
    service: LocalService
    given_url: str | None
    probe: Callable[[str], str]

    @property
    def external_url(self) -> str | None:
        """The URL the settings give, unless that names this slot's own service, as the URLs
        `tuskflow local env` prints do: the state folder runs it, or nothing else listens on
        its address. Those are still ours to report, start and stop."""
        if self.given_url is None:
            return None
        host, port = _address(self.given_url)
        if (host, port) != _address(self.service.url) or port is None:
            return self.given_url
        if self.service.pid() is not None or not _process.port_open(port):
            return None
        return self.given_url  # our address, but another state folder's server answers


def _address(url: str) -> tuple[str, int | None]:
    """Host and port of a service URL or a Kafka bootstrap (the first server of a list)."""
    parts = urlsplit(url if "//" in url else f"//{url.split(',', maxsplit=1)[0]}")
    host = parts.hostname or "localhost"
    return ("127.0.0.1" if host == "localhost" else host), parts.port


def _kafka_probe(bootstrap: str) -> str:
    return "Apache Kafka (reachable)" if kafka.broker_answers(bootstrap) else "unreachable"


class LocalStack:
    """PostgreSQL, Redis and Kafka in the state folder, except those given by TUSKFLOW_* URLs."""

    def __init__(self, settings: Settings) -> None:
        state = settings.state_dir
        self._slots = [
            _Slot(
                postgres.PostgresService(state, settings.local_postgres_port),
                settings.database_url,
                postgres.server_version,
            ),
            _Slot(
                redis.RedisService(state, settings.local_redis_port),
                settings.redis_url,
                redis.server_version,
            ),
            _Slot(
                kafka.KafkaService(
                    state, settings.local_kafka_port, settings.local_kafka_controller_port
                ),
                settings.kafka_bootstrap,
                _kafka_probe,
            ),
        ]

    def service(self, name: str) -> LocalService:
        """The local service called ``name`` (postgres, redis or kafka)."""
        for slot in self._slots:
            if slot.service.name == name:
                return slot.service
        raise KeyError(f"no local service called {name!r}")

    def up(self, names: Collection[str] = ()) -> Iterator[str]:
        """Start each local service (or those named) that is not running; one line each."""
        self._check_names(names)
        for slot in self._slots:
            if names and slot.service.name not in names:
                continue
            name = slot.service.name
            if slot.external_url is not None:
                variable = slot.service.url_variable
                yield f"{name}: using {slot.external_url} ({variable}), not started"
            elif slot.service.start():
                yield f"{name}: started at {slot.service.url}"
            else:
                yield f"{name}: already running at {slot.service.url}"

    def down(self, names: Collection[str] = ()) -> Iterator[str]:
        """Stop each local service this state folder runs (or those named), Kafka first;
        yield one line each."""
        self._check_names(names)
        for slot in reversed(self._slots):
            name = slot.service.name
            if names and name not in names:
                continue
            if slot.external_url is not None:
                yield f"{name}: external, left alone"
            elif slot.service.stop():
                yield f"{name}: stopped"
            else:
                yield f"{name}: not running"

    def status(self) -> list[ServiceStatus]:
        """What runs where, and its version."""
        return [self._status(slot) for slot in self._slots]

    def all_running(self) -> bool:
        """True when every service is either external or running locally."""
        return all(status.state != "stopped" for status in self.status())

    def urls(self) -> dict[str, str]:
        """TUSKFLOW_* variable -> URL of each running local service."""
        return {
            slot.service.url_variable: slot.service.url
            for slot in self._slots
            if slot.external_url is None and slot.service.status().state == "running"
        }

    def env(self) -> list[str]:
        """`export` lines pointing clients at every local service, running or not (a stopped
        one is then named by the client's error, not left unset), each stopped one followed
        by a comment saying so."""
        lines = []
        for slot in self._slots:
            if slot.external_url is not None:
                continue
            service = slot.service
            lines.append(f"export {service.url_variable}={shlex.quote(service.url)}")
            if service.status().state != "running":
                lines.append(f"# {service.name} is not running: tuskflow local up {service.name}")
        return lines

    def _check_names(self, names: Collection[str]) -> None:
        unknown = set(names) - {slot.service.name for slot in self._slots}
        if unknown:
            raise ServiceError(
                f"no local service called {', '.join(sorted(unknown))}; there are"
                " postgres, redis and kafka"
            )

    @staticmethod
    def _status(slot: _Slot) -> ServiceStatus:
        if slot.external_url is None:
            return slot.service.status()
        return ServiceStatus(
            slot.service.name, "external", slot.external_url, slot.probe(slot.external_url)
        )
