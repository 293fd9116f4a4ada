"""`tuskflow status`: queues, jobs, consumer lag, schedules and the store (monitoring/status.py)."""

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from tuskflow.cli.listing import JsonOption, print_listing
from tuskflow.config import Settings

if TYPE_CHECKING:
    from tuskflow.monitoring.status import SystemStatus


def status(
    ctx: typer.Context,
    as_json: JsonOption = False,
    watch: Annotated[
        float | None, typer.Option(help="show it again every this many seconds (Ctrl-C stops)")
    ] = None,
) -> None:
    """The whole system: queue depths (reserved messages too), jobs by state and the running
    ones, Kafka and Redis consumer lag, schedules, and the event store's health."""
    from tuskflow.config.database import probe
    from tuskflow.monitoring.status import system_status

    settings: Settings = ctx.obj
    database_url, redis_url = settings.required("database_url"), settings.required("redis_url")
    probe(database_url, "status")

    def show() -> None:
        current = system_status(
            database_url,
            redis_url,
            settings.kafka_bootstrap,
            settings.schedule_file,
            settings.dask_scheduler,
        )
        if as_json:
            typer.echo(current.as_json())
        else:
            _print(current)

    if watch is None:
        show()
        return
    try:
        while True:
            Console().clear()
            show()
            time.sleep(watch)
    except KeyboardInterrupt:
        pass


def _print(current: "SystemStatus") -> None:
    typer.echo(f"tuskflow status at {current.taken_at:%Y-%m-%d %H:%M:%S} UTC")
    for problem in current.unreachable:
        typer.echo(f"unreachable: {problem}", err=True)
    beats = [
        {
            "role": p.role,
            "host": p.host,
            "pid": p.pid,
            "does": ", ".join(f"{k} {v}" for k, v in p.detail.items()),
            "heartbeat": f"{p.heartbeat_age_s:.0f} s ago" + (" (silent)" if p.silent else ""),
        }
        for p in current.processes
    ]
    _section("processes", beats, "no worker, consumer or beat has a heartbeat")
    if current.dask_workers:
        _section("dask workers", [asdict(w) for w in current.dask_workers], "")
    _section("queues", [asdict(q) for q in current.queues], "no queues")
    states = ", ".join(
        f"{state} {count:,}" for state, count in sorted(current.jobs_by_state.items())
    )
    typer.echo(f"\njobs: {states or 'none'}")
    if current.running_jobs:
        print_listing(current.running_jobs, as_json=False, empty="")
    _section("kafka consumers", [asdict(k) for k in current.kafka], "no Kafka offsets stored")
    _section(
        "redis stream groups", [asdict(r) for r in current.redis_streams], "no Redis stream groups"
    )
    _section("schedules", current.schedules, "no schedule file (TUSKFLOW_SCHEDULE_FILE)")
    store = current.store
    lags = ", ".join(f"{name} {lag:,}" for name, lag in store["checkpoint_lag"].items())
    typer.echo(
        f"\nevent store: head {store['head_position']:,}, dead letters open "
        f"{store['dead_letters_open']:,}, checkpoint lag: {lags or 'none'}; last archive day "
        f"{store['last_archive_day'] or 'none'}"
        + (" (verified)" if store["last_archive_day_verified"] else "")
    )


def _section(title: str, rows: list[dict[str, object]], empty: str) -> None:
    typer.echo(f"\n{title}:")
    print_listing(rows, as_json=False, empty=f"  {empty}")
