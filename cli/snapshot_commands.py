"""`tuskflow snapshot run`: snapshot every registered aggregate's due streams now, in this
process, recorded as a run in the event store (beat fires the same run as a Celery task)."""

import uuid
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tuskflow.cli.listing import JsonOption, print_listing
from tuskflow.config import Settings

app = typer.Typer(help="Snapshot runs over every registered aggregate type.", no_args_is_help=True)


@app.command()
def run(
    ctx: typer.Context,
    category: Annotated[
        str | None, typer.Option(help="only this stream category (job-, or one of yours)")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Snapshot each stream that is its policy's number of events past its last snapshot."""
    from tuskflow.config.database import probe
    from tuskflow.eventstore.postgres.store import PostgresEventStore
    from tuskflow.eventstore.snapshotting import run_snapshots, run_stream
    from tuskflow.jobs import catalog

    settings: Settings = ctx.obj
    policies = catalog.snapshot_policies(settings, category)
    url = settings.required("database_url")
    probe(url, "cli")
    run_id = f"cli-{uuid.uuid4().hex[:12]}"
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with (
        PostgresEventStore(url, pool_size=2, role="cli") as store,
        Progress(*columns, transient=True) as progress,
    ):
        shown = progress.add_task("looking for due streams")

        def snapshotted(name: str, count: int) -> None:
            progress.update(shown, description=f"{name}: {count:,} streams snapshotted")

        done = run_snapshots(store, policies, run_id, snapshotted)
    rows: list[dict[str, Any]] = [
        {
            "category": outcome.category,
            "every": outcome.every,
            "due": outcome.due,
            "snapshotted": outcome.snapshotted,
            "failed": outcome.failed,
        }
        for outcome in done.categories
    ]
    print_listing(rows, as_json, empty="no aggregate type is registered")
    if not as_json:
        typer.echo(f"run {run_id} in {done.seconds:.2f} s, recorded in {run_stream(run_id)}")
        for failure in done.failures:
            typer.echo(f"failed: {failure['stream']}: {failure['error']}", err=True)
    if done.failures:
        raise typer.Exit(1)
