"""`tuskflow submit` and `tuskflow jobs list|show|cancel|retry`: ETL jobs from the command line."""

import json
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import scheduler
from config import Settings
from etl.rejects import load_rejects
from eventstore.postgres.projection import ProjectionRunner
from eventstore.postgres.queries import read_stream
from jobs.job import stream_of
from jobs.projection import JobsProjection

app = typer.Typer(help="ETL jobs: their state, history and rejects.", no_args_is_help=True)
console = Console()


def submit(
    spec: Annotated[Path, typer.Argument(help="the job spec, YAML or JSON", exists=True)],
    wait: Annotated[bool, typer.Option(help="show progress until the job ends")] = False,
) -> None:
    """Validate a job spec, record it and enqueue it; with --wait, follow it to the end."""
    job_id = scheduler.submit(spec)
    console.print(f"submitted job [bold]{job_id}[/bold]")
    if not wait:
        console.print(f"follow it with: tuskflow jobs show {job_id}")
        return
    final = follow(job_id)
    print_result(final)
    if final["status"] != "succeeded":
        raise typer.Exit(1)


def follow(job_id: str) -> dict[str, Any]:
    """A progress bar of partitions done and rows read, until the job ends."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("partitions  {task.fields[rows]:,} rows  {task.fields[rejected]:,} rejected"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("queued", total=None, rows=0, rejected=0)

        def show(state: dict[str, Any]) -> None:
            total = state["partitions_total"] or None
            progress.update(
                bar,
                description=f"{state['status']} (attempt {state['attempt']})",
                total=total,
                completed=state["partitions_done"],
                rows=state["rows_in"],
                rejected=state["rejected"],
            )

        return scheduler.wait(job_id, on_progress=show)


def print_result(state: dict[str, Any]) -> None:
    """One job's outcome in a few lines."""
    console.print(f"job {state['job_id']} ({state['name']}): [bold]{state['status']}[/bold]")
    result = state["result"]
    if result:
        console.print(
            f"  rows in {result['rows_in']:,}, rows out {result['rows_out']:,},"
            f" rejected {result['rejected']:,}, {result['duration_s']} s"
        )
        console.print(f"  output: {result['output']}")
    if state["error"]:
        console.print(f"  error: {state['error']}")


@app.command("list")
def list_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 20,
) -> None:
    """Jobs with their status, progress and output, from the jobs projection."""
    settings: Settings = ctx.obj
    url = settings.required("database_url")
    ProjectionRunner(url, JobsProjection()).catch_up()
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT job_id, name, status, attempt, partitions_done, partitions_total, rows_in,"
            " rows_out, rejected, coalesce(output, error), submitted_at FROM projection_jobs"
            " ORDER BY submitted_at DESC LIMIT %s",
            [limit],
        ).fetchall()
    table = Table(
        "job",
        "name",
        "status",
        "attempt",
        "partitions",
        "rows in",
        "rows out",
        "rejected",
        "output / error",
        "submitted",
    )
    for job_id, name, status, attempt, done, total, rows_in, rows_out, rejected, where, at in rows:
        table.add_row(
            job_id,
            name,
            status,
            str(attempt),
            f"{done}/{total}",
            f"{rows_in:,}",
            "" if rows_out is None else f"{rows_out:,}",
            f"{rejected:,}",
            (where or "")[:60],
            f"{at:%Y-%m-%d %H:%M:%S}",
        )
    console.print(table)


@app.command()
def show(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="the job's id")],
    rejects: Annotated[int, typer.Option(help="show this many rejected rows")] = 10,
) -> None:
    """A job's state, its history from the event store, and its first rejected rows."""
    settings: Settings = ctx.obj
    url = settings.required("database_url")
    state = scheduler.status(job_id)
    if state["status"] is None:
        raise typer.BadParameter(f"no job {job_id}; `tuskflow jobs list` shows the known ones")
    print_result(state)
    console.print("history:")
    with psycopg.connect(url) as conn:
        for event in read_stream(conn, stream_of(job_id), 1, limit=10_000):
            console.print(
                f"  {event.recorded_at:%H:%M:%S.%f}  {event.event_type:<18} {_brief(event.data)}"
            )
    total, rows = load_rejects(url, job_id, rejects)
    if total:
        console.print(f"rejects: {total:,} rows (first {len(rows)}):")
        for row in rows:
            console.print(f"  {row['source_file']}:{row['row']}  {row['reason']}")


@app.command()
def cancel(job_id: Annotated[str, typer.Argument(help="the job's id")]) -> None:
    """Cancel a queued or running job; nothing of it is published."""
    scheduler.cancel(job_id)
    console.print(f"job {job_id} cancelled")


@app.command()
def retry(
    job_id: Annotated[str, typer.Argument(help="the job's id")],
    wait: Annotated[bool, typer.Option(help="show progress until the job ends")] = False,
) -> None:
    """Run a failed or cancelled job again, as it was submitted."""
    scheduler.retry(job_id)
    console.print(f"job {job_id} enqueued again")
    if wait:
        print_result(follow(job_id))


def _brief(data: Any) -> str:
    shown = {k: v for k, v in dict(data).items() if k != "spec"}
    return json.dumps(shown, default=str)[:150]
