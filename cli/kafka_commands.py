"""`tuskflow kafka topics create|list|describe`: the topics of the configured broker."""

from typing import TYPE_CHECKING, Annotated

import typer

from tuskflow.cli.listing import JsonOption, print_listing
from tuskflow.config import Settings

if TYPE_CHECKING:  # confluent-kafka is loaded by the commands that reach the broker
    from tuskflow.workers.kafka_topics import KafkaTopics

app = typer.Typer(help="Kafka topics on the configured broker.", no_args_is_help=True)
topics_app = typer.Typer(help="Create, list and describe topics.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")


def _topics(ctx: typer.Context) -> "KafkaTopics":
    from tuskflow.workers.kafka_topics import KafkaTopics

    settings: Settings = ctx.obj
    return KafkaTopics(settings.required("kafka_bootstrap"))


@topics_app.command()
def create(
    ctx: typer.Context,
    name: str,
    partitions: Annotated[
        int, typer.Option(min=1, help="how many consumers of one group can share it")
    ] = 4,
    replication_factor: Annotated[int, typer.Option(min=1, help="brokers per partition")] = 1,
) -> None:
    """Make a topic with N partitions; refused when it exists already."""
    made = _topics(ctx).create(name, partitions, replication_factor)
    typer.echo(
        f"created topic {made.name!r}: {_partitions(len(made.partitions))},"
        f" replication factor {made.replication_factor}"
    )


@topics_app.command("list")
def list_topics(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every topic with its partitions, replication factor and messages kept."""
    topics = _topics(ctx)
    rows = [
        {
            "topic": state.name,
            "partitions": len(state.partitions),
            "replication_factor": state.replication_factor,
            "messages": state.messages,
        }
        for state in topics.states(topics.names())
    ]
    print_listing(rows, as_json, empty="no topics")


@topics_app.command()
def describe(ctx: typer.Context, name: str, as_json: JsonOption = False) -> None:
    """One topic's partitions: leader, replicas, in-sync replicas, earliest and latest offset."""
    state = _topics(ctx).describe(name)
    rows = [
        {
            "partition": p.partition,
            "leader": p.leader,
            "replicas": ",".join(map(str, p.replicas)),
            "in_sync": ",".join(map(str, p.in_sync)),
            "earliest_offset": p.earliest,
            "latest_offset": p.latest,
        }
        for p in state.partitions
    ]
    if not as_json:
        typer.echo(
            f"topic {state.name!r}: {_partitions(len(state.partitions))}, replication factor"
            f" {state.replication_factor}, {state.messages:,} messages"
        )
    print_listing(rows, as_json, empty="")


def _partitions(count: int) -> str:
    return f"{count} partition" if count == 1 else f"{count} partitions"
