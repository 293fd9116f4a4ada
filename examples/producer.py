"""Send N sample events to a Kafka topic or a Redis stream at a chosen rate.

    eval "$(.venv/bin/tuskflow local env)"
    .venv/bin/python examples/producer.py kafka --topic readings --count 100000 --rate 20000
    .venv/bin/python examples/producer.py redis --stream readings --count 10000 --streams 500

Each message is a meter reading keyed by its meter, so the events spread over ``--streams``
streams: {"type": "Measured", "value": n, "unit": "kWh", "meter": "meter-17", "at": "..."}.
Kafka messages carry the meter as their key; Redis entries carry ``key`` and ``data`` fields,
as the consumers expect by default. Progress is printed every second.
"""

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated

import redis
import typer
from confluent_kafka import Producer

from tuskflow.config import load_settings

app = typer.Typer(help=__doc__.splitlines()[0], no_args_is_help=True)

Count = Annotated[int, typer.Option(min=1, help="how many events to send")]
Rate = Annotated[int, typer.Option(min=0, help="events per second; 0 sends as fast as possible")]
Streams = Annotated[int, typer.Option(min=1, help="how many meters (streams) to spread over")]


def readings(count: int, streams: int) -> Iterator[tuple[str, bytes]]:
    """(key, JSON payload) of ``count`` readings spread over ``streams`` meters."""
    for n in range(count):
        meter = f"meter-{n % streams}"
        payload = {
            "type": "Measured",
            "value": n,
            "unit": "kWh",
            "meter": meter,
            "at": datetime.now(UTC).isoformat(),
        }
        yield meter, json.dumps(payload).encode()


def paced(count: int, rate: int, send: Callable[[str, bytes], None], streams: int) -> None:
    """Call ``send`` for each reading, holding ``rate`` per second, printing progress."""
    started = last_report = time.monotonic()
    for sent, (key, payload) in enumerate(readings(count, streams), start=1):
        send(key, payload)
        if rate:
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        now = time.monotonic()
        if now - last_report >= 1 or sent == count:
            print(f"sent {sent:,}/{count:,} ({sent / max(now - started, 1e-9):,.0f}/s)", flush=True)
            last_report = now


@app.command()
def kafka(
    topic: Annotated[str, typer.Option()],
    count: Count = 10_000,
    rate: Rate = 0,
    streams: Streams = 100,
) -> None:
    """Send readings to a Kafka topic (created by the broker on first use)."""
    producer = Producer(
        {
            "bootstrap.servers": load_settings().required("kafka_bootstrap"),
            "enable.idempotence": True,
            "linger.ms": 5,
        }
    )

    def send(key: str, payload: bytes) -> None:
        while True:
            try:
                producer.produce(topic, key=key, value=payload)
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.1)
        producer.poll(0)

    paced(count, rate, send, streams)
    undelivered = producer.flush(60)
    if undelivered:
        typer.echo(f"{undelivered} messages were not delivered to {topic}", err=True)
        raise typer.Exit(1)


@app.command("redis")
def redis_stream(
    stream: Annotated[str, typer.Option()],
    count: Count = 10_000,
    rate: Rate = 0,
    streams: Streams = 100,
) -> None:
    """Append readings to a Redis stream (XADD), in pipelines of 500."""
    client = redis.Redis.from_url(load_settings().required("redis_url"))
    pipeline = client.pipeline(transaction=False)
    queued = 0

    def send(key: str, payload: bytes) -> None:
        nonlocal queued
        pipeline.xadd(stream, {"key": key, "data": payload})
        queued += 1
        if queued == 500:
            pipeline.execute()
            queued = 0

    paced(count, rate, send, streams)
    pipeline.execute()
    client.close()


if __name__ == "__main__":
    app()
