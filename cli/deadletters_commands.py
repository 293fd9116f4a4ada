"""`tuskflow deadletters list|replay`: messages that could not become events.

psycopg and the store are imported inside the commands, so that `--help` starts without them.
"""

import dataclasses
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from tuskflow.cli.listing import JsonOption, print_listing
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
from tuskflow.eventstore.records import LetterFilter

if TYPE_CHECKING:
    from tuskflow.config.database import Connection

SourceOption = Annotated[str | None, typer.Option(help="only from this source: kafka or redis")]
TopicOption = Annotated[str | None, typer.Option(help="only from this Kafka topic or Redis stream")]
PartitionOption = Annotated[int | None, typer.Option(help="only from this Kafka partition")]
ReasonOption = Annotated[
    str | None, typer.Option(help="only those whose reason contains this (any case)")
]
SinceOption = Annotated[
    datetime | None, typer.Option(help="only those that first failed at or after this (UTC)")
]
UntilOption = Annotated[
    datetime | None, typer.Option(help="only those that first failed before this (UTC)")
]


def _letter_filter(
    source: str | None,
    topic: str | None,
    partition: int | None,
    reason: str | None,
    since: datetime | None,
    until: datetime | None,
) -> LetterFilter:
    """The filter the options name; a time without a zone is UTC, as the store records it."""
    return LetterFilter(source, topic, partition, reason, _utc(since), _utc(until))


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


app = typer.Typer(help="Messages that could not become events.", no_args_is_help=True)


def _connect(ctx: typer.Context) -> "Connection":
    from tuskflow.config.database import connect

    settings: Settings = ctx.obj
    return connect(settings.required("database_url"), "cli")


@app.command("list")
def list_command(
    ctx: typer.Context,
    include_replayed: Annotated[bool, typer.Option("--all", help="replayed ones too")] = False,
    limit: Annotated[int, typer.Option(help="at most this many")] = 50,
    source: SourceOption = None,
    topic: TopicOption = None,
    partition: PartitionOption = None,
    reason: ReasonOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    as_json: JsonOption = False,
) -> None:
    """Dead letters with where they came from, attempts and the reason."""
    from tuskflow.eventstore.postgres.queries import list_dead_letters

    matching = _letter_filter(source, topic, partition, reason, since, until)
    with _connect(ctx) as conn:
        letters = list_dead_letters(
            conn, include_replayed=include_replayed, limit=limit, matching=matching
        )
    rows = [
        {
            "id": stored.id,
            "source_key": stored.letter.source_key,
            "attempts": stored.attempts,
            "last_failed_at": stored.last_failed_at,
            "replayed_position": stored.replayed_position,
            "reason": stored.letter.reason,
        }
        for stored in letters
    ]
    print_listing(rows, as_json, empty="no dead letters")


@app.command()
def replay(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Option("--id", help="only these dead letters")] = None,
    mapping: MappingFile = None,
    payload: PayloadOption = MAPPING_DEFAULTS["redis_payload"],
    stream_id: StreamIdOption = MAPPING_DEFAULTS["stream"],
    stream_prefix: PrefixOption = MAPPING_DEFAULTS["stream_prefix"],
    event_type: TypeOption = MAPPING_DEFAULTS["event_type"],
    event_id: IdOption = MAPPING_DEFAULTS["event_id"],
    source: SourceOption = None,
    topic: TopicOption = None,
    partition: PartitionOption = None,
    reason: ReasonOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show what each would become; store nothing")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Map the open dead letters chosen again and store those that map now (exit 1 if some
    still fail)."""
    from tuskflow.config.database import probe
    from tuskflow.eventstore.postgres.store import PostgresEventStore
    from tuskflow.workers.deadletter_replay import preview_replay, replay_dead_letters

    settings: Settings = ctx.obj
    spec = mapping_from_options(
        mapping,
        redis_payload=payload,
        stream=stream_id,
        stream_prefix=stream_prefix,
        event_type=event_type,
        event_id=event_id,
    )
    matching = _letter_filter(source, topic, partition, reason, since, until)
    chosen = set(ids) if ids else None
    url = settings.required("database_url")
    probe(url, "cli")
    with PostgresEventStore(url, pool_size=1, role="cli") as store:
        if dry_run:
            previews = preview_replay(store, spec, settings.event_max_bytes, chosen, matching)
            rows = [dataclasses.asdict(preview) for preview in previews]
            print_listing(rows, as_json, empty="no open dead letter matches")
            return
        outcome = replay_dead_letters(store, spec, settings.event_max_bytes, chosen, matching)
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(outcome)))
    else:
        typer.echo(f"replayed {outcome.replayed}, still failing {outcome.failed}")
    if outcome.failed:
        raise typer.Exit(1)
