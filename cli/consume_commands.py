"""`tuskflow consume kafka|redis`: dedicated consumer workers into the event store.

The ingestors (confluent-kafka, redis-py, psycopg, the metrics server) are imported inside
their command, so that every other command, and `--help`, starts without them.
"""

import signal
import socket
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Protocol

import typer

from tuskflow.cli.mapping_options import (
    MAPPING_DEFAULTS,
    IdOption,
    MappingFile,
    PayloadOption,
    PrefixOption,
    StreamIdOption,
    TypeOption,
    mapping_from_options,
)
from tuskflow.config import Settings
from tuskflow.workers.ingest_configs import KafkaIngestConfig, RedisIngestConfig

if TYPE_CHECKING:
    from tuskflow.workers.metrics import ConsumerMetrics

app = typer.Typer(help="Consume a source into the event store until SIGTERM.", no_args_is_help=True)

MetricsPort = Annotated[int | None, typer.Option(help="serve Prometheus metrics on this port")]
BatchSize = Annotated[int, typer.Option(min=1, max=100_000)]


class Ingestor(Protocol):
    """A consumer's loop: KafkaIngestor or RedisIngestor."""

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set."""


def run_until_signalled(
    ingestor: Ingestor, database_url: str, role: str, detail: Mapping[str, object]
) -> None:
    """Run a consumer in this process, tuned for it (workers.process), with its heartbeat,
    until SIGTERM or SIGINT; the batch in hand finishes."""
    from tuskflow.monitoring.heartbeat import Heartbeat
    from tuskflow.workers.process import tune_for_consuming

    tune_for_consuming()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    heartbeat = Heartbeat(database_url, role, detail).start()
    try:
        ingestor.run(stop)
    finally:
        heartbeat.stop()


def _metrics(source: str, port: int | None) -> "ConsumerMetrics":
    from tuskflow.workers.metrics import ConsumerMetrics

    metrics = ConsumerMetrics(source)
    if port is not None:
        metrics.serve(port)
    return metrics


def _reachable_at_start(database_url: str, *, redis_url: str = "", kafka: str = "") -> None:
    """The consumer's services answer, or one line says which does not, and where (exit 3).

    Only at start-up: a consumer that has run rides a later outage out with its backoff, as
    it should; one that never reached its services is more likely misconfigured.
    """
    from tuskflow.config.database import probe

    if redis_url:
        from tuskflow.config.redis_probe import probe_redis

        probe_redis(redis_url)
    if kafka:
        from tuskflow.workers.kafka_topics import KafkaTopics

        KafkaTopics(kafka).names()
    probe(database_url, "consumer")


@app.command()
def kafka(
    ctx: typer.Context,
    topic: Annotated[list[str], typer.Option(help="topic to consume (repeatable)")],
    group: Annotated[str, typer.Option(help="consumer group")],
    mapping: MappingFile = None,
    stream_id: StreamIdOption = MAPPING_DEFAULTS["stream"],
    stream_prefix: PrefixOption = MAPPING_DEFAULTS["stream_prefix"],
    event_type: TypeOption = MAPPING_DEFAULTS["event_type"],
    event_id: IdOption = MAPPING_DEFAULTS["event_id"],
    batch_size: BatchSize = KafkaIngestConfig.batch_size,
    instance_id: Annotated[
        str | None,
        typer.Option(help="static group member id: a restart takes its partitions back at once"),
    ] = None,
    metrics_port: MetricsPort = None,
) -> None:
    """Kafka topics into the event store; offsets live in PostgreSQL."""
    from tuskflow.workers.kafka_consumer import KafkaIngestor

    settings: Settings = ctx.obj
    config = KafkaIngestConfig(
        bootstrap=settings.required("kafka_bootstrap"),
        topics=tuple(topic),
        group=group,
        mapping=mapping_from_options(
            mapping,
            stream=stream_id,
            stream_prefix=stream_prefix,
            event_type=event_type,
            event_id=event_id,
        ),
        database_url=settings.required("database_url"),
        max_event_bytes=settings.event_max_bytes,
        batch_size=batch_size,
        instance_id=instance_id,
    )
    metrics = _metrics("kafka", metrics_port)
    _reachable_at_start(config.database_url, kafka=config.bootstrap)
    detail = {"topics": list(config.topics), "group": config.group}
    run_until_signalled(
        KafkaIngestor(config, metrics), config.database_url, "kafka-consumer", detail
    )


@app.command()
def redis(
    ctx: typer.Context,
    stream_name: Annotated[str, typer.Option("--stream", help="Redis stream to consume")],
    group: Annotated[str, typer.Option(help="consumer group")],
    consumer: Annotated[
        str | None, typer.Option(help="stable consumer name (default: the host name)")
    ] = None,
    mapping: MappingFile = None,
    payload: PayloadOption = MAPPING_DEFAULTS["redis_payload"],
    stream_id: StreamIdOption = MAPPING_DEFAULTS["stream"],
    stream_prefix: PrefixOption = MAPPING_DEFAULTS["stream_prefix"],
    event_type: TypeOption = MAPPING_DEFAULTS["event_type"],
    event_id: IdOption = MAPPING_DEFAULTS["event_id"],
    batch_size: BatchSize = RedisIngestConfig.batch_size,
    max_deliveries: Annotated[
        int, typer.Option(min=1, help="then dead-letter the entry")
    ] = RedisIngestConfig.max_deliveries,
    claim_idle_ms: Annotated[
        int, typer.Option(min=1, help="take over entries idle this long")
    ] = RedisIngestConfig.claim_idle_ms,
    trim_every_s: Annotated[
        float | None, typer.Option(help="trim what every group is done with, this often")
    ] = None,
    metrics_port: MetricsPort = None,
) -> None:
    """A Redis stream into the event store; XACK only after the PostgreSQL commit."""
    from tuskflow.workers.redis_consumer import RedisIngestor

    settings: Settings = ctx.obj
    config = RedisIngestConfig(
        redis_url=settings.required("redis_url"),
        stream=stream_name,
        group=group,
        consumer=consumer or socket.gethostname(),
        mapping=mapping_from_options(
            mapping,
            redis_payload=payload,
            stream=stream_id,
            stream_prefix=stream_prefix,
            event_type=event_type,
            event_id=event_id,
        ),
        database_url=settings.required("database_url"),
        max_event_bytes=settings.event_max_bytes,
        batch_size=batch_size,
        max_deliveries=max_deliveries,
        claim_idle_ms=claim_idle_ms,
        trim_every_s=trim_every_s,
    )
    metrics = _metrics("redis", metrics_port)
    _reachable_at_start(config.database_url, redis_url=config.redis_url)
    detail = {"stream": config.stream, "group": config.group, "consumer": config.consumer}
    run_until_signalled(
        RedisIngestor(config, metrics), config.database_url, "redis-consumer", detail
    )
