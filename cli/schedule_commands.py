"""`tuskflow beat` and `tuskflow schedule check`: scheduled jobs on Celery beat.

Celery, the store and the ETL engine are imported inside the commands, so that `--help`
starts without them.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tuskflow.cli.listing import JsonOption, print_listing
from tuskflow.config import Settings

if TYPE_CHECKING:
    from tuskflow.scheduler.firing import Firing
    from tuskflow.scheduler.schedule_file import ScheduleEntry, ScheduleFile

app = typer.Typer(
    help="Scheduled jobs: check, list, show, pause, resume, trigger, backfill.",
    no_args_is_help=True,
)
EntryArgument = Annotated[str, typer.Argument(help="the schedule entry's id")]
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
            "fires": entry.target,
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
    metrics_port: Annotated[
        int | None, typer.Option(help="serve Prometheus metrics on this port")
    ] = None,
) -> None:
    """Run Celery beat on tuskflow's schedule until SIGTERM (run several: each fire once)."""
    import os

    from tuskflow.scheduler.schedule_file import load_schedule

    settings: Settings = ctx.obj
    path = _schedule_path(settings, schedule)
    load_schedule(path)  # refused here, in one message, before Celery starts
    os.environ["TUSKFLOW_SCHEDULE_FILE"] = str(path.resolve())
    if metrics_port is not None:
        from tuskflow.config.metrics_server import check_metrics_port

        check_metrics_port(metrics_port, "beat's")  # else Celery reports it with a traceback
        os.environ["TUSKFLOW_BEAT_METRICS_PORT"] = str(metrics_port)
    from tuskflow.config.settings import forget_process_settings
    from tuskflow.tasks.app import app as celery_app

    forget_process_settings()  # the scheduler reads the file's path from the environment

    celery_app.start(
        ["beat", "-S", "tuskflow.scheduler.beat:TuskflowScheduler", "--loglevel", loglevel]
    )


@contextmanager
def _firing(settings: Settings, schedule: Path | None) -> Iterator["Firing"]:
    """The schedule, on the store, sending as beat sends: what these commands work with."""
    from tuskflow.config.database import probe
    from tuskflow.eventstore.postgres.store import PostgresEventStore
    from tuskflow.jobs.history import JobHistory
    from tuskflow.scheduler.beat import send_fire
    from tuskflow.scheduler.fire_ledger import FireLedger
    from tuskflow.scheduler.firing import Firing
    from tuskflow.scheduler.schedule_file import load_schedule

    loaded = load_schedule(_schedule_path(settings, schedule))
    url = settings.required("database_url")
    probe(url, "cli")

    def send(fire: Any) -> None:
        from tuskflow.tasks.app import app as celery_app

        send_fire(celery_app, fire)

    with PostgresEventStore(url, pool_size=1, role="cli") as store:
        yield Firing(loaded, FireLedger(store), JobHistory(store), send, "cli")


def _entry(schedule: "ScheduleFile", entry_id: str) -> "ScheduleEntry":
    from tuskflow.config.errors import ConfigError

    for entry in schedule.entries:
        if entry.id == entry_id:
            return entry
    known = ", ".join(entry.id for entry in schedule.entries) or "none"
    raise ConfigError(f"no schedule entry {entry_id!r} (the schedule has: {known})")


@app.command("list")
def list_entries(
    ctx: typer.Context, schedule: ScheduleOption = None, as_json: JsonOption = False
) -> None:
    """Each entry: next fire, last fire and its job's state, fires and skips, paused."""
    from tuskflow.scheduler.fire_times import next_fire

    now = datetime.now(UTC)
    with _firing(ctx.obj, schedule) as firing:
        rows = []
        for entry in firing.schedule.entries:
            fires = firing.ledger.fires(entry.id)
            last = fires.last_fire
            rows.append(
                {
                    "id": entry.id,
                    "next_fire": next_fire(entry, now) if entry.enabled else None,
                    "last_fire": last.nominal if last else None,
                    "last_job": last.job_id if last else None,
                    "last_job_state": firing.history.load(last.job_id).status if last else None,
                    "fires": fires.fired,
                    "skips": fires.skipped,
                    "paused": fires.paused,
                    "enabled": entry.enabled,
                }
            )
    print_listing(rows, as_json, empty="the schedule has no entries")


@app.command()
def show(
    ctx: typer.Context,
    entry_id: EntryArgument,
    schedule: ScheduleOption = None,
    as_json: JsonOption = False,
) -> None:
    """An entry's fires, in the order recorded: each with its job and its state, or why not."""
    with _firing(ctx.obj, schedule) as firing:
        entry = _entry(firing.schedule, entry_id)
        rows = [
            {
                "nominal": verdict.nominal,
                "trigger": verdict.trigger,
                "job": verdict.job_id,
                "job_state": firing.history.load(verdict.job_id).status if verdict.job_id else None,
                "sent": verdict.sent,
                "skipped": verdict.skipped,
                "recorded_at": verdict.recorded_at,
            }
            for verdict in firing.ledger.verdicts(entry.id)
        ]
    print_listing(rows, as_json, empty=f"{entry_id} has not fired yet")


@app.command()
def pause(
    ctx: typer.Context,
    entry_id: EntryArgument,
    note: Annotated[str, typer.Option(help="why, shown by list")] = "paused",
    schedule: ScheduleOption = None,
) -> None:
    """Stop an entry firing (every beat obeys) until resumed."""
    with _firing(ctx.obj, schedule) as firing:
        firing.ledger.pause(_entry(firing.schedule, entry_id).id, note)
    typer.echo(f"{entry_id} paused: {note}")


@app.command()
def resume(ctx: typer.Context, entry_id: EntryArgument, schedule: ScheduleOption = None) -> None:
    """Let a paused entry fire again; what it missed follows its missed policy."""
    with _firing(ctx.obj, schedule) as firing:
        firing.ledger.resume(_entry(firing.schedule, entry_id).id)
    typer.echo(f"{entry_id} resumed")


@app.command()
def trigger(
    ctx: typer.Context,
    entry_id: EntryArgument,
    schedule: ScheduleOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fire an entry now, recorded as manual (its overlap policy still applies)."""
    with _firing(ctx.obj, schedule) as firing:
        entry = _entry(firing.schedule, entry_id)
        fire = firing.trigger(entry, datetime.now(UTC), "manual")
        rows = [] if fire is None else [{"job": fire.job_id, "nominal": fire.nominal}]
    print_listing(rows, as_json, empty=f"{entry_id} did not fire (see: tuskflow schedule show)")


@app.command()
def backfill(
    ctx: typer.Context,
    entry_id: EntryArgument,
    since: Annotated[datetime, typer.Option("--from", help="first nominal time (UTC)")],
    until: Annotated[datetime, typer.Option("--to", help="last nominal time (UTC)")],
    schedule: ScheduleOption = None,
    as_json: JsonOption = False,
) -> None:
    """One fire per nominal time in the range, overlap respected; run twice, it adds none."""
    from tuskflow.scheduler.fire_times import fire_times

    start, end = _utc(since), _utc(until)
    with _firing(ctx.obj, schedule) as firing:
        entry = _entry(firing.schedule, entry_id)
        rows = []
        for nominal in fire_times(entry, start - timedelta(microseconds=1), end):
            fire = firing.trigger(entry, nominal, "backfill")
            rows.append({"nominal": nominal, "job": fire.job_id if fire else None})
    print_listing(rows, as_json, empty=f"no nominal time of {entry_id} in that range")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
