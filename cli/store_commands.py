"""`tuskflow store stats|read|tail|replay|snapshot`: look into the event store.

The PostgreSQL store (psycopg) and the product's catalog are imported inside the commands, so
that `--help` and every other command start without them.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from tuskflow.cli.listing import JsonOption, event_line, print_listing
from tuskflow.config import Settings
from tuskflow.config.errors import ConfigError
from tuskflow.config.settings import env_var
from tuskflow.eventstore import AggregateRepository, RecordedEvent
from tuskflow.eventstore.aggregate import Aggregate

if TYPE_CHECKING:
    from tuskflow.archive.read_through import PrunedLog
    from tuskflow.eventstore.postgres.store import PostgresEventStore

app = typer.Typer(help="Look into the event store.", no_args_is_help=True)


def _store(ctx: typer.Context) -> "PostgresEventStore":
    from tuskflow.config.database import probe
    from tuskflow.eventstore.postgres.store import PostgresEventStore

    settings: Settings = ctx.obj
    url = settings.required("database_url")
    probe(url, "cli")
    return PostgresEventStore(
        url, max_event_bytes=settings.event_max_bytes, pool_size=2, role="cli"
    )


@app.command()
def stats(ctx: typer.Context) -> None:
    """Events, streams, snapshots, dead letters, and how far each checkpoint lags."""
    with _store(ctx) as store:
        counts = store.stats()
    typer.echo(f"events        {counts.events}")
    typer.echo(f"streams       {counts.streams}")
    typer.echo(f"head position {counts.head_position}")
    typer.echo(f"snapshots     {counts.snapshots}")
    typer.echo(f"dead letters  {counts.dead_letters}")
    for name, position in counts.checkpoints.items():
        typer.echo(f"checkpoint    {name} at {position} (lag {counts.head_position - position})")


@app.command()
def read(
    ctx: typer.Context,
    stream: str,
    from_version: Annotated[int, typer.Option(help="first version to show")] = 1,
    backwards: Annotated[bool, typer.Option(help="newest first, from --from-version down")] = False,
    limit: Annotated[int, typer.Option(help="at most this many events")] = 100,
    as_json: JsonOption = False,
) -> None:
    """One stream's events: a table, or with --json every field as JSON lines."""
    start = from_version if not backwards or from_version > 1 else 2**31 - 1
    with _store(ctx) as store:
        events = store.read_stream(stream, start, backwards=backwards, limit=limit)
    if not events:
        typer.echo(f"stream {stream!r} has no events from version {from_version}", err=True)
        raise typer.Exit(1)
    if as_json:
        for event in events:
            typer.echo(event_line(event))
        return
    print_listing([_row(event) for event in events], as_json=False, empty="")


def _row(event: RecordedEvent) -> dict[str, Any]:
    return {
        "global_position": event.global_position,
        "version": event.stream_version,
        "type": event.event_type,
        "recorded_at": event.recorded_at,
        "data": json.dumps(event.data, default=str),
    }


@app.command()
def tail(
    ctx: typer.Context,
    after: Annotated[
        int | None, typer.Option(help="start after this position (default: head)")
    ] = None,
    event_type: Annotated[list[str] | None, typer.Option("--type", help="only this type")] = None,
    category: Annotated[str | None, typer.Option(help="only streams starting with this")] = None,
    count: Annotated[int | None, typer.Option(help="stop after this many events")] = None,
) -> None:
    """Follow new events as they commit, as JSON lines (Ctrl-C stops)."""
    settings: Settings = ctx.obj
    from tuskflow.eventstore.postgres.notify import NotifyWaker

    waker = NotifyWaker(settings.required("database_url"))
    shown = 0
    with _store(ctx) as store:
        position = store.head() if after is None else after
        try:
            while count is None or shown < count:
                page = store.read_all(position, limit=500)
                if not page:
                    waker.wait(1.0)
                    continue
                position = page[-1].global_position
                for event in page:
                    if event_type and event.event_type not in event_type:
                        continue
                    if category and not event.stream_id.startswith(category):
                        continue
                    typer.echo(event_line(event))
                    shown += 1
                    if count is not None and shown >= count:
                        break
        except KeyboardInterrupt:
            pass
        finally:
            waker.close()


@app.command()
def replay(ctx: typer.Context, projection: str) -> None:
    """Rebuild a projection from the first event, with progress."""
    from tuskflow.eventstore.postgres.projection import ProjectionRunner
    from tuskflow.jobs import catalog

    settings: Settings = ctx.obj
    projections = catalog.projections()
    if projection not in projections:
        typer.echo(
            f"no projection {projection!r}; known: {', '.join(sorted(projections))}", err=True
        )
        raise typer.Exit(2)
    runner = ProjectionRunner(settings.required("database_url"), projections[projection])
    with _store(ctx) as store:
        head = store.head()
    columns = (
        *Progress.get_default_columns()[:1],
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with _pruned_log(settings) as pruned, Progress(*columns, transient=False) as progress:
        task = progress.add_task(f"replaying {projection}", total=head)
        applied = runner.rebuild(
            lambda position: progress.update(task, completed=position),
            pruned=pruned.events,
            pruned_through=pruned.through,
        )
    typer.echo(f"{projection}: rebuilt from {applied} events")


@contextmanager
def _pruned_log(settings: Settings) -> Iterator["PrunedLog"]:
    """The events pruned from the live store, read from the archive (none when nothing was)."""
    from tuskflow.archive.destination import Destination
    from tuskflow.archive.read_through import PrunedLog, pruned_log
    from tuskflow.eventstore.postgres.archive_log import ArchiveLog

    with ArchiveLog(settings.required("database_url"), "cli") as archive_log:
        if not any(day.pruned_at for day in archive_log.days()):
            yield PrunedLog(iter(()), 0)
            return
        if settings.archive_url is None:
            raise ConfigError(
                f"days were pruned from the live store: set {env_var('archive_url')} to their "
                "archive so that the rebuild reads them from it"
            )
        yield pruned_log(archive_log, Destination(settings.archive_url))


@app.command()
def snapshot(
    ctx: typer.Context,
    stream: str,
    take: Annotated[
        bool, typer.Option(help="take one now, with the aggregate of the stream's category")
    ] = False,
    aggregate: Annotated[
        str | None, typer.Option(help="module:Class of your own aggregate, to take one now")
    ] = None,
) -> None:
    """Show a stream's latest snapshot; --take takes one now (a job's stream, job-ID, is
    tuskflow's own; give --aggregate module:Class for a stream of yours)."""
    from tuskflow.jobs import catalog

    factory = catalog.aggregate_class(aggregate, "--aggregate") if aggregate is not None else None
    if take and factory is None:
        factory = catalog.aggregate_of(stream)
        if factory is None:
            known = ", ".join(f"{category}*" for category in catalog.aggregates())
            raise typer.BadParameter(
                f"tuskflow writes no aggregate to stream {stream!r} (its own are {known});"
                " give --aggregate module:Class for a stream of yours"
            )
    with _store(ctx) as store:
        if factory is not None:
            _take_snapshot(store, stream, factory)
        kept = store.load_snapshot(stream)
        version = store.stream_version(stream)
    if kept is None:
        typer.echo(f"stream {stream!r} has no snapshot (version {version})")
        return
    size = len(json.dumps(kept.state))
    typer.echo(
        f"stream {stream!r}: snapshot at version {kept.stream_version} of {version} "
        f"({version - kept.stream_version} events after it), {size} bytes"
    )


def _take_snapshot(store: "PostgresEventStore", stream: str, factory: type[Aggregate]) -> None:
    repository = AggregateRepository(store, factory, snapshot_every=1)
    loaded = repository.load(stream)
    if loaded.version == 0:
        typer.echo(f"stream {stream!r} has no events", err=True)
        raise typer.Exit(1)
    repository.take_snapshot(loaded)
