"""`tuskflow archive export|verify|list|read|prune|prunes`: the event log's Parquet archive.

The archive is where TUSKFLOW_ARCHIVE_URL points (or --to): a folder, or s3://bucket/prefix.
pyarrow and psycopg are imported inside the commands, so `--help` starts without them.
"""

import getpass
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from tuskflow.cli.listing import JsonOption, event_line, print_listing
from tuskflow.config import Settings
from tuskflow.config.settings import env_var

if TYPE_CHECKING:
    from tuskflow.archive.destination import Destination
    from tuskflow.archive.verify import DayVerdict
    from tuskflow.eventstore.postgres.archive_log import ArchiveLog

app = typer.Typer(help="Archive the event log to Parquet, verify it, read it, prune the store.")

ToOption = Annotated[
    str | None,
    typer.Option(
        "--to",
        help=f"the archive: a folder or s3://bucket/prefix (default: {env_var('archive_url')})",
    ),
]


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a day (YYYY-MM-DD)") from None


DayOption = Annotated[str | None, typer.Option(help="the last day to export (YYYY-MM-DD)")]


@contextmanager
def _opened(ctx: typer.Context, to: str | None) -> Iterator[tuple["ArchiveLog", "Destination"]]:
    from tuskflow.archive.session import archive_session
    from tuskflow.config.database import probe

    settings: Settings = ctx.obj
    database_url = settings.required("database_url")
    probe(database_url, "cli-archive")
    with archive_session(database_url, to or settings.archive_url, "cli-archive") as opened:
        yield opened


def _progress() -> Progress:
    columns = (
        *Progress.get_default_columns()[:1],
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    return Progress(*columns, transient=True)


@app.command()
def export(ctx: typer.Context, until: DayOption = None, to: ToOption = None) -> None:
    """Export every sealed day the archive does not hold yet, oldest first, with progress."""
    from tuskflow.archive.export import export as export_days

    settings: Settings = ctx.obj
    last = _day(until) if until is not None else None
    with _opened(ctx, to) as (archive_log, destination), _progress() as bar:
        tasks: dict[date, Any] = {}

        def shown(day: date, written: int, total: int) -> None:
            if day not in tasks:
                tasks[day] = bar.add_task(f"archiving {day}", total=total)
            bar.update(tasks[day], completed=written)

        result = export_days(
            archive_log,
            destination,
            settle_s=settings.archive_settle_s,
            until=last,
            progress=shown,
        )
    for manifest in result.exported:
        typer.echo(
            f"{manifest.day}: {manifest.events:,} events in {len(manifest.files)} files "
            f"({manifest.size:,} bytes), sealed"
        )
    sealed = f"every sealed day up to {result.last_sealed} is archived"
    typer.echo(f"archived {len(result.exported)} days; {sealed} at {destination.url}")


@app.command()
def verify(
    ctx: typer.Context,
    days: Annotated[list[str] | None, typer.Argument(help="days to verify (default: all)")] = None,
    to: ToOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read each archived day back and compare it event by event with the store."""
    from tuskflow.archive.verify import verify_day

    failed = False
    with _opened(ctx, to) as (archive_log, destination):
        wanted = [_day(text) for text in days] if days else _published(destination)
        for day in wanted:  # each day's verdict as soon as it is known: the run's progress
            verdict = verify_day(archive_log, destination, day)
            failed = failed or not verdict.ok
            if as_json:
                print_listing([_verdict_row(verdict)], as_json=True, empty="")
            else:
                _print_verdict(verdict)
    if failed:
        raise typer.Exit(1)


def _published(destination: "Destination") -> list[date]:
    return [manifest.day for manifest in destination.manifests()]


def _verdict_row(verdict: "DayVerdict") -> dict[str, Any]:
    return {
        "day": str(verdict.day),
        "ok": verdict.ok,
        "events": verdict.events,
        "against_store": verdict.against_store,
        "problems": verdict.problems,
    }


def _print_verdict(verdict: "DayVerdict") -> None:
    if verdict.ok and verdict.against_store:
        typer.echo(f"{verdict.day}  ok       {verdict.events:,} events equal to the store")
    elif verdict.ok:
        typer.echo(
            f"{verdict.day}  ok       {verdict.events:,} events match the manifest"
            " (pruned: no live events to compare)"
        )
    else:
        typer.echo(f"{verdict.day}  DIFFERS  {len(verdict.problems)} problems:")
        for problem in verdict.problems:
            typer.echo(f"    {problem}")


@app.command("list")
def list_days(ctx: typer.Context, to: ToOption = None, as_json: JsonOption = False) -> None:
    """Archived days and the live days not sealed yet: counts, sizes, verified, pruned."""
    from tuskflow.archive.listing import archive_days

    settings: Settings = ctx.obj
    with _opened(ctx, to) as (archive_log, destination):
        rows = archive_days(archive_log, destination, settings.archive_settle_s)
    print_listing(rows, as_json, empty="no events and no archive yet")


@app.command()
def read(ctx: typer.Context, day: str, to: ToOption = None) -> None:
    """One archived day's events as JSON lines, in global order."""
    from tuskflow.archive.event_table import recorded_events, table_from_parquet

    wanted = _day(day)
    with _opened(ctx, to) as (_, destination):
        manifest = destination.manifest(wanted)
        if manifest is None:
            typer.echo(f"day {wanted} is not in the archive at {destination.url}", err=True)
            raise typer.Exit(1)
        for part in manifest.files:
            for event in recorded_events(table_from_parquet(destination.read(wanted, part.name))):
                typer.echo(event_line(event))


@app.command()
def prune(
    ctx: typer.Context,
    before: Annotated[str, typer.Option(help="prune the days before this one (YYYY-MM-DD)")],
    by: Annotated[
        str | None, typer.Option(help="who prunes, for the audit (default: user@host)")
    ] = None,
    to: ToOption = None,
) -> None:
    """Delete archived, verified days before --before from the live store, audited."""
    from tuskflow.archive.prune import prune as prune_days

    pruned_by = by or f"{getpass.getuser()}@{socket.gethostname()}"
    with _opened(ctx, to) as (archive_log, _):
        result = prune_days(archive_log, _day(before), pruned_by)
    for day in result.pruned:
        typer.echo(f"{day.day}: {day.events:,} events pruned by {pruned_by}")
    if result.refused is not None:
        typer.echo(f"stopped: {result.refused}", err=True)
        raise typer.Exit(1)
    typer.echo(f"pruned {len(result.pruned)} days before {before}")


@app.command()
def prunes(ctx: typer.Context, to: ToOption = None, as_json: JsonOption = False) -> None:
    """The prune audit: every day removed from the live store, by whom and when."""
    with _opened(ctx, to) as (archive_log, _):
        records = archive_log.prunes()
    rows = [
        {
            "day": str(record.day),
            "events_deleted": record.events_deleted,
            "first_position": record.first_position,
            "last_position": record.last_position,
            "pruned_by": record.pruned_by,
            "database_user": record.database_user,
            "application": record.application_name,
            "pruned_at": record.pruned_at,
            "archive": record.location,
        }
        for record in records
    ]
    print_listing(rows, as_json, empty="nothing has been pruned")
