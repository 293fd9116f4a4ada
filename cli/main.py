"""The `tuskflow` console script.

Errors end a command with one line on stderr and an exit status that says which kind:
1 a retryable error, 2 a permanent one (bad input, a refused command), 3 a service that cannot
be reached (which one, where, and what to do). A traceback only with ``--debug`` or
TUSKFLOW_LOG_LEVEL=DEBUG.
"""

import gc
import logging
import sys
import traceback
from typing import Annotated

import typer

from tuskflow import __version__
from tuskflow.cli import (
    archive_commands,
    consume_commands,
    db_commands,
    deadletters_commands,
    flower_commands,
    jobs_commands,
    kafka_commands,
    local_commands,
    metrics_commands,
    schedule_commands,
    snapshot_commands,
    status_commands,
    store_commands,
)
from tuskflow.config import Settings, TuskflowError, configure_logging, load_settings
from tuskflow.config.errors import PermanentError, ServiceUnavailableError

EXIT_RETRYABLE, EXIT_PERMANENT, EXIT_UNREACHABLE = 1, 2, 3


class _Run:
    """What the callback decided for this run, read by main() once the command has ended."""

    debug = False


app = typer.Typer(
    help="tuskflow: ETL on Celery and Dask, stream ingestion into a PostgreSQL event store.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(local_commands.app, name="local")
app.add_typer(db_commands.app, name="db")
app.add_typer(store_commands.app, name="store")
app.add_typer(consume_commands.app, name="consume")
app.add_typer(deadletters_commands.app, name="deadletters")
app.add_typer(jobs_commands.app, name="jobs")
app.add_typer(kafka_commands.app, name="kafka")
app.add_typer(schedule_commands.app, name="schedule")
app.add_typer(archive_commands.app, name="archive")
app.add_typer(snapshot_commands.app, name="snapshot")
app.add_typer(metrics_commands.app, name="metrics")
app.command()(schedule_commands.beat)
app.command()(flower_commands.flower)
app.command()(status_commands.status)
app.command()(jobs_commands.submit)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"tuskflow {__version__}")
        raise typer.Exit()


@app.callback()
def _load(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks of errors")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="print the version and exit", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    """Build the settings once and set up logging before any command runs."""
    settings: Settings = load_settings()
    configure_logging(settings)
    _Run.debug = debug or settings.log_level == "DEBUG"
    if not _Run.debug:
        # The pool logs every failed connect; the command's own error says it once.
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    ctx.obj = settings


def main() -> None:
    """Run the CLI; a tuskflow error becomes one line on stderr and its exit status (after
    its traceback with --debug)."""
    try:
        app()
    except TuskflowError as exc:
        if _Run.debug:
            traceback.print_exc()
        print(f"tuskflow: {_line(exc)}", file=sys.stderr)
        sys.exit(_exit_status(exc))
    finally:
        # The interpreter's exit collects every object the imports made (pandas, pyarrow,
        # Celery...): 0.2-0.3 s of a submit's wall time. Frozen objects are left to the OS.
        gc.freeze()


def _line(exc: TuskflowError) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, ServiceUnavailableError):
        return f"{text}; {exc.remedy}"
    return str(exc)


def _exit_status(exc: TuskflowError) -> int:
    if isinstance(exc, ServiceUnavailableError):
        return EXIT_UNREACHABLE
    return EXIT_PERMANENT if isinstance(exc, PermanentError) else EXIT_RETRYABLE
