"""Kafka topics on the configured broker: create, list and describe them (`tuskflow kafka`).

A consumer group spreads partitions, not messages: a topic's partition count is how many
consumers of one group can work on it at once, so a topic is made with the partitions its
consumers need before anything is produced to it.
"""

import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ClusterMetadata,
    NewTopic,
    OffsetSpec,
)

from tuskflow.config.errors import KafkaUnavailableError, PermanentError

# Within the CLI's 5 s for a broker that cannot be reached.
_TIMEOUT_S = 3.0
# How long a topic just made may take to have a leader for every partition.
_SETTLE_S = 10.0
_SETTLING = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
)


class TopicError(PermanentError):
    """A topic command the broker refused: it exists already, is unknown, or is invalid."""


@dataclass(frozen=True)
class PartitionState:
    """One partition: its leader and replicas (broker ids) and its offsets."""

    partition: int
    leader: int
    replicas: tuple[int, ...]
    in_sync: tuple[int, ...]
    earliest: int
    latest: int


@dataclass(frozen=True)
class TopicState:
    """A topic and each of its partitions, in partition order."""

    name: str
    partitions: tuple[PartitionState, ...]

    @property
    def replication_factor(self) -> int:
        """How many brokers hold each partition."""
        return len(self.partitions[0].replicas) if self.partitions else 0

    @property
    def messages(self) -> int:
        """Messages kept now: latest minus earliest offset, summed over the partitions."""
        return sum(p.latest - p.earliest for p in self.partitions)


class KafkaTopics:
    """The topics of the broker at ``bootstrap``; KafkaUnavailableError when it is not there."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})

    def create(self, name: str, partitions: int, replication_factor: int = 1) -> TopicState:
        """Make a new topic; TopicError when it exists or the broker refuses the counts."""
        self._metadata()  # an unreachable broker is told as such, not as a timed-out create
        wanted = NewTopic(name, num_partitions=partitions, replication_factor=replication_factor)
        future = self._admin.create_topics([wanted], request_timeout=_TIMEOUT_S)[name]
        try:
            future.result(timeout=_TIMEOUT_S + 1)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                have = len(self._metadata(name).topics[name].partitions)
                raise TopicError(
                    f"topic {name!r} exists already, with {have} partitions; "
                    "`tuskflow kafka topics describe` shows them"
                ) from None
            raise TopicError(f"Kafka refused to create topic {name!r}: {error.str()}") from None
        return self.describe(name)

    def names(self) -> list[str]:
        """Every topic but the broker's internal ones (``__consumer_offsets``), sorted."""
        return sorted(t for t in self._metadata().topics if not t.startswith("__"))

    def describe(self, name: str) -> TopicState:
        """The topic's partitions with leader, replicas and offsets; TopicError if unknown."""
        return self.states([name])[0]

    def states(self, names: Sequence[str]) -> list[TopicState]:
        """Each named topic's state, in the order given. A topic just made has no leaders
        for a moment: its offsets are asked again until they answer, for a few seconds."""
        deadline = time.monotonic() + _SETTLE_S
        while True:
            metadata = self._metadata()
            for name in names:
                if name not in metadata.topics:
                    raise TopicError(f"no topic {name!r} on Kafka at {self.bootstrap}")
            try:
                offsets = self._offsets(metadata, names)
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if not _settling(error) or time.monotonic() > deadline:
                    raise TopicError(
                        f"Kafka at {self.bootstrap} did not give the offsets of"
                        f" {', '.join(names)}: {error.str()}"
                    ) from None
                time.sleep(0.2)
                continue
            return [_state(metadata, name, offsets) for name in names]

    def _metadata(self, topic: str | None = None) -> ClusterMetadata:
        try:
            return self._admin.list_topics(topic, timeout=_TIMEOUT_S)
        except KafkaException as exc:
            raise KafkaUnavailableError(
                f"Kafka at {self.bootstrap} is unreachable: {exc.args[0].str()}"
            ) from None

    def _offsets(
        self, metadata: ClusterMetadata, names: Sequence[str]
    ) -> dict[tuple[str, int, str], int]:
        asked: dict[tuple[str, int, str], Future[Any]] = {}
        sides = (("earliest", OffsetSpec.earliest()), ("latest", OffsetSpec.latest()))  # type: ignore[no-untyped-call]
        for side, spec in sides:
            partitions = {
                TopicPartition(name, p): spec
                for name in names
                for p in metadata.topics[name].partitions
            }
            if not partitions:
                continue
            futures = self._admin.list_offsets(partitions, request_timeout=_TIMEOUT_S)
            for tp, future in futures.items():
                asked[(tp.topic, tp.partition, side)] = future
        return {key: future.result(timeout=_TIMEOUT_S + 1).offset for key, future in asked.items()}


def _settling(error: KafkaError) -> bool:
    """Whether the error passes once the cluster settles (leaders elected, metadata spread)."""
    return error.retriable() or error.code() in _SETTLING


def _state(
    metadata: ClusterMetadata, name: str, offsets: dict[tuple[str, int, str], int]
) -> TopicState:
    partitions = metadata.topics[name].partitions
    return TopicState(
        name,
        tuple(
            PartitionState(
                index,
                partitions[index].leader,
                tuple(partitions[index].replicas),
                tuple(partitions[index].isrs),
                offsets[(name, index, "earliest")],
                offsets[(name, index, "latest")],
            )
            for index in sorted(partitions)
        ),
    )
