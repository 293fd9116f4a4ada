"""`tuskflow submit` and `tuskflow jobs list|show|cancel|retry`: ETL jobs from the command line.

The submit API and the job display are imported inside the commands: they load the ETL engine
(pyarrow, pandas, Celery), and every other tuskflow command, a consumer starting up above all,
would otherwise pay about a second for them.
"""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tuskflow.config import Settings
from tuskflow.config.database import connect
from tuskflow.eventstore.postgres.projection import ProjectionRunner
from tuskflow.jobs.projection import JobsProjection, latest_jobs

app = typer.Typer(help="ETL jobs: their state, history and rejects.", no_args_is_help=True)


def submit(
    spec: Annotated[Path, typer.Argument(help="the job spec, YAML or JSON", exists=True)],
    wait: Annotated[bool, typer.Option(help="show progress until the job ends")] = False,
) -> None:
    """Validate a job spec, record it and enqueue it; with --wait, follow it to the end."""
    from tuskflow import scheduler
    from tuskflow.cli import job_view

    job_id = scheduler.submit(spec)
    job_view.console.print(f"submitted job [bold]{job_id}[/bold]")
    if not wait:
        job_view.console.print(f"follow it with: tuskflow jobs show {job_id}")
        return
    final = job_view.follow(job_id)
    job_view.print_result(final)
    if final["status"] != "succeeded":
        raise typer.Exit(1)


@app.command("list")
def list_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 20,
) -> None:
    """Jobs with their status, progress and output, from the jobs projection."""
    settings: Settings = ctx.obj
    url = settings.required("database_url")
    ProjectionRunner(url, JobsProjection()).catch_up()
    with connect(url, "cli") as conn:
        rows = latest_jobs(conn, limit)
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
    Console().print(table)


@app.command()
def show(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="the job's id")],
    rejects: Annotated[int, typer.Option(help="show this many rejected rows")] = 10,
) -> None:
    """A job's state, its history from the event store, and its first rejected rows."""
    from tuskflow import scheduler
    from tuskflow.cli import job_view

    settings: Settings = ctx.obj
    url = settings.required("database_url")
    state = scheduler.status(job_id)
    job_view.print_result(state)
    job_view.print_history(job_id)
    job_view.print_rejects(url, state, rejects)


@app.command()
def cancel(job_id: Annotated[str, typer.Argument(help="the job's id")]) -> None:
    """Cancel a queued or running job; nothing of it is published."""
    from tuskflow import scheduler

    scheduler.cancel(job_id)
    Console().print(f"job {job_id} cancelled")


@app.command()
def retry(
    job_id: Annotated[str, typer.Argument(help="the job's id")],
    wait: Annotated[bool, typer.Option(help="show progress until the job ends")] = False,
) -> None:
    """Run a failed or cancelled job again, as it was submitted."""
    from tuskflow import scheduler
    from tuskflow.cli import job_view

    scheduler.retry(job_id)
    job_view.console.print(f"job {job_id} enqueued again")
    if wait:
        final = job_view.follow(job_id)
        job_view.print_result(final)
        if final["status"] != "succeeded":
            raise typer.Exit(1)
