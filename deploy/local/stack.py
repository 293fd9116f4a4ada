"""The three local services together: what `tuskflow local up|down|status|env` act on."""

import shlex
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

from tuskflow.config.errors import ServiceError
from tuskflow.config.settings import Settings
from tuskflow.deploy.local import kafka, postgres, redis
from tuskflow.deploy.local.service import LocalService, ServiceStatus


@dataclass(frozen=True)
class _Slot:
    service: LocalService
    external_url: str | None
    probe: Callable[[str], str]


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
        unknown = set(names) - {slot.service.name for slot in self._slots}
        if unknown:
            raise ServiceError(
                f"no local service called {', '.join(sorted(unknown))}; there are"
                " postgres, redis and kafka"
            )
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

    def down(self) -> Iterator[str]:
        """Stop each local service this state folder runs, Kafka first; yield one line each."""
        for slot in reversed(self._slots):
            name = slot.service.name
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
        """`export` lines pointing clients at the running local services."""
        return [f"export {name}={shlex.quote(url)}" for name, url in self.urls().items()]

    @staticmethod
    def _status(slot: _Slot) -> ServiceStatus:
        if slot.external_url is None:
            return slot.service.status()
        return ServiceStatus(
            slot.service.name, "external", slot.external_url, slot.probe(slot.external_url)
        )
