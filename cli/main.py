"""The `tuskflow` console script."""

import sys

import typer

from tuskflow.cli import (
    consume_commands,
    db_commands,
    deadletters_commands,
    jobs_commands,
    local_commands,
    store_commands,
)
from tuskflow.config import Settings, TuskflowError, configure_logging, load_settings
from tuskflow.config.errors import PermanentError

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
app.command()(jobs_commands.submit)


@app.callback()
def _load(ctx: typer.Context) -> None:
    """Build the settings once and set up logging before any command runs."""
    settings: Settings = load_settings()
    configure_logging(settings)
    ctx.obj = settings


def main() -> None:
    """Run the CLI; a tuskflow error becomes one line on stderr and a non-zero exit."""
    try:
        app()
    except TuskflowError as exc:
        print(f"tuskflow: {exc}", file=sys.stderr)
        sys.exit(2 if isinstance(exc, PermanentError) else 1)
