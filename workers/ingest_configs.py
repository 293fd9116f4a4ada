"""What each ingestor consumes and how: plain settings, apart from the loops that use them.

Kept in a module of their own, with no driver imported, so that the CLI can take its option
defaults from them without loading confluent-kafka, redis-py and psycopg.
"""

from dataclasses import dataclass

from tuskflow.config.errors import ConfigError
from tuskflow.workers.mapping import MappingSpec

DEFAULT_BATCH_SIZE = 5000


@dataclass(frozen=True)
class KafkaIngestConfig:
    """What to consume and how: topics, group, mapping, batching."""

    bootstrap: str
    topics: tuple[str, ...]
    group: str
    mapping: MappingSpec
    database_url: str
    max_event_bytes: int
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_timeout_s: float = 0.5
    client_id: str = "tuskflow-consumer"
    # Static membership: a restarted worker with the same id takes its partitions back at once,
    # without a rebalance of the whole group.
    instance_id: str | None = None
    session_timeout_ms: int = 10_000
    # Longest a batch may take to store before the group counts this member gone and its
    # partitions lost (librdkafka's default).
    max_poll_interval_ms: int = 300_000
    # A member that holds no partition this long says why in its log (once per idle spell).
    idle_warning_s: float = 30.0

    def __post_init__(self) -> None:
        if self.mapping.whole_entry:
            raise ConfigError(
                "mapping redis_payload: entry is for Redis entries; a Kafka message's payload "
                "is its value (leave redis_payload out of a Kafka consumer's mapping)"
            )


@dataclass(frozen=True)
class RedisIngestConfig:
    """What to consume and how: stream, group, this consumer's stable name, mapping, cadences."""

    redis_url: str
    stream: str
    group: str
    consumer: str
    mapping: MappingSpec
    database_url: str
    max_event_bytes: int
    batch_size: int = DEFAULT_BATCH_SIZE
    block_ms: int = 500
    claim_idle_ms: int = 30000
    claim_every_s: float = 5.0
    max_deliveries: int = 5
    key_field: str = "key"
    trim_every_s: float | None = None
