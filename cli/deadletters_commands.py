"""`tuskflow deadletters list|replay`: messages that could not become events.

psycopg and the store are imported inside the commands, so that `--help` starts without them.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tuskflow.cli.listing import JsonOption, print_listing
from tuskflow.config import Settings

if TYPE_CHECKING:
    from tuskflow.config.database import Connection

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
    as_json: JsonOption = False,
) -> None:
    """Dead letters with where they came from, attempts and the reason."""
    from tuskflow.eventstore.postgres.queries import list_dead_letters

    with _connect(ctx) as conn:
        letters = list_dead_letters(conn, include_replayed=include_replayed, limit=limit)
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
    mapping: Annotated[Path | None, typer.Option(help="mapping YAML file")] = None,
    stream_id: Annotated[str, typer.Option("--stream-id", help="key or field:<path>")] = "key",
    stream_prefix: Annotated[str, typer.Option(help="prefix for stream ids")] = "",
    event_type: Annotated[
        str, typer.Option("--type", help="header:, field: or fixed:")
    ] = "field:type",
    event_id: Annotated[
        str, typer.Option("--id-from", help="source, header: or field:")
    ] = "source",
) -> None:
    """Map open dead letters again and store those that map now."""
    from tuskflow.cli.mapping_options import mapping_from_options
    from tuskflow.config.database import probe
    from tuskflow.eventstore.postgres.store import PostgresEventStore
    from tuskflow.workers.deadletter_replay import replay_dead_letters

    settings: Settings = ctx.obj
    spec = mapping_from_options(mapping, stream_id, stream_prefix, event_type, event_id)
    url = settings.required("database_url")
    probe(url, "cli")
    with PostgresEventStore(url, pool_size=1, role="cli") as store:
        outcome = replay_dead_letters(
            store, spec, settings.event_max_bytes, set(ids) if ids else None
        )
    typer.echo(f"replayed {outcome.replayed}, still failing {outcome.failed}")
    if outcome.failed:
        raise typer.Exit(1)
