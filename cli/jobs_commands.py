"""`tuskflow submit` and `tuskflow jobs list|show|cancel|retry`: ETL jobs from the command line.

The submit API and the job display are imported inside the commands: they load the ETL engine
(pyarrow, pandas, Celery), and every other tuskflow command, a consumer starting up above all,
would otherwise pay about a second for them.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from tuskflow.cli.listing import JsonOption, print_listing
from tuskflow.config import Settings

if TYPE_CHECKING:
    from tuskflow.config.database import Connection

app = typer.Typer(help="ETL jobs: their state, history and rejects.", no_args_is_help=True)
# What a shell reports for a command ended by SIGINT (128 + 2).
EXIT_INTERRUPTED = 130
JobIdArgument = Annotated[str, typer.Argument(help="the job's id, or a unique start of it")]


def submit(
    spec: Annotated[Path, typer.Argument(help="the job spec, YAML or JSON", exists=True)],
    wait: Annotated[bool, typer.Option(help="show progress until the job ends")] = False,
) -> None:
    """Validate a job spec, record it and enqueue it; with --wait, follow it to the end."""
    from tuskflow import scheduler

    job_id = scheduler.submit(spec)  # the display is loaded once the spec has passed

    from tuskflow.cli import job_view

    job_view.console.print(f"submitted job [bold]{job_id}[/bold]")
    if not wait:
        job_view.console.print(f"follow it with: tuskflow jobs show {job_id}")
        return
    _follow_to_end(job_id)


@app.command("list")
def list_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Jobs with their status, progress and output, from the jobs projection."""
    from tuskflow.jobs.projection import latest_jobs

    rows = latest_jobs(_caught_up(ctx), limit)
    print_listing(rows, as_json, empty="no jobs yet; submit one with: tuskflow submit SPEC")


def _caught_up(ctx: typer.Context) -> "Connection":
    """A connection to a store whose jobs projection has caught up."""
    from tuskflow.config.database import connect
    from tuskflow.eventstore.postgres.projection import ProjectionRunner
    from tuskflow.jobs.projection import JobsProjection

    settings: Settings = ctx.obj
    url = settings.required("database_url")
    ProjectionRunner(url, JobsProjection()).catch_up()
    return ctx.with_resource(connect(url, "cli"))


def _job_id(ctx: typer.Context, given: str) -> str:
    """The job id ``given`` is a unique prefix of (or ``given``, for the command to refuse)."""
    from tuskflow.jobs.history import JobStateError
    from tuskflow.jobs.projection import job_ids_starting

    matches = job_ids_starting(_caught_up(ctx), given)
    if len(matches) > 1:
        shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise JobStateError(f"job id {given!r} is the start of {len(matches)} jobs ({shown})")
    return matches[0] if matches else given


@app.command()
def show(
    ctx: typer.Context,
    job_id: JobIdArgument,
    rejects: Annotated[int, typer.Option(help="show this many rejected rows")] = 10,
) -> None:
    """A job's state, its history from the event store, and its first rejected rows."""
    from tuskflow import scheduler
    from tuskflow.cli import job_view

    settings: Settings = ctx.obj
    url = settings.required("database_url")
    job_id = _job_id(ctx, job_id)
    state = scheduler.status(job_id)
    job_view.print_result(state)
    job_view.print_history(job_id)
    job_view.print_rejects(url, state, rejects)


@app.command()
def cancel(ctx: typer.Context, job_id: JobIdArgument) -> None:
    """Cancel a queued or running job; nothing of it is published."""
    from tuskflow import scheduler

    job_id = _job_id(ctx, job_id)
    scheduler.cancel(job_id)
    Console().print(f"job {job_id} cancelled")


@app.command()
def retry(
    ctx: typer.Context,
    job_id: JobIdArgument,
    wait: Annotated[bool, typer.Option(help="show progress until the job ends")] = False,
) -> None:
    """Run a failed or cancelled job again, as it was submitted."""
    from tuskflow import scheduler
    from tuskflow.cli import job_view

    job_id = _job_id(ctx, job_id)
    scheduler.retry(job_id)
    job_view.console.print(f"job {job_id} enqueued again")
    if wait:
        _follow_to_end(job_id)


def _follow_to_end(job_id: str) -> None:
    """Show the job until it ends; exit 1 unless it succeeded. Ctrl-C stops only the following:
    the job runs on in the workers, and the exit (130) says how to find it again."""
    from tuskflow.cli import job_view

    try:
        final = job_view.follow(job_id)
    except KeyboardInterrupt:
        job_view.console.print(
            f"stopped following job {job_id}; it goes on running in the workers.\n"
            f"  follow it: tuskflow jobs show {job_id}\n"
            f"  cancel it: tuskflow jobs cancel {job_id}"
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    job_view.print_result(final)
    if final["status"] != "succeeded":
        raise typer.Exit(1)
