"""`tuskflow beat` and `tuskflow schedule check`: scheduled jobs on Celery beat.

Celery, the store and the ETL engine are imported inside the commands, so that `--help`
starts without them.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from tuskflow.cli.listing import JsonOption, print_listing
from tuskflow.config import Settings

app = typer.Typer(help="Scheduled jobs: check a schedule file.", no_args_is_help=True)
ScheduleOption = Annotated[
    Path | None, typer.Option("--schedule", help="the schedule file (default: settings)")
]


def _schedule_path(settings: Settings, given: Path | None) -> Path:
    from tuskflow.config.errors import ConfigError

    path = given or settings.schedule_file
    if path is None:
        raise ConfigError("no schedule file: give --schedule FILE or set TUSKFLOW_SCHEDULE_FILE")
    return path


@app.command()
def check(ctx: typer.Context, schedule: ScheduleOption = None, as_json: JsonOption = False) -> None:
    """Check a schedule file whole (every problem by its path); list its entries' next fire."""
    from tuskflow.scheduler.fire_times import next_fire
    from tuskflow.scheduler.schedule_file import load_schedule

    loaded = load_schedule(_schedule_path(ctx.obj, schedule))
    now = datetime.now(UTC)
    rows = [
        {
            "id": entry.id,
            "rule": entry.cron or f"every {entry.every.total_seconds() if entry.every else 0:g}s",
            "timezone": entry.timezone,
            "next_fire": next_fire(entry, now),
            "job": str(entry.job),
            "missed": entry.missed.policy,
            "overlap": entry.overlap,
            "enabled": entry.enabled,
        }
        for entry in loaded.entries
    ]
    print_listing(rows, as_json, empty="the schedule has no entries")


def beat(
    ctx: typer.Context,
    schedule: ScheduleOption = None,
    loglevel: Annotated[str, typer.Option(help="Celery's log level")] = "INFO",
) -> None:
    """Run Celery beat on tuskflow's schedule until SIGTERM (run several: each fire once)."""
    import os

    from tuskflow.scheduler.schedule_file import load_schedule

    settings: Settings = ctx.obj
    path = _schedule_path(settings, schedule)
    load_schedule(path)  # refused here, in one message, before Celery starts
    os.environ["TUSKFLOW_SCHEDULE_FILE"] = str(path.resolve())
    from tuskflow.config.settings import forget_process_settings
    from tuskflow.tasks.app import app as celery_app

    forget_process_settings()  # the scheduler reads the file's path from the environment

    celery_app.start(
        ["beat", "-S", "tuskflow.scheduler.beat:TuskflowScheduler", "--loglevel", loglevel]
    )
