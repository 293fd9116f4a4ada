"""`tuskflow local up|down|status|env`: the local PostgreSQL, Redis and Kafka.

The launchers (deploy.local, which reach PostgreSQL, Redis and Kafka) are imported inside the
commands, so that `--help` and every other command start without them.
"""

from typing import TYPE_CHECKING, Annotated

import typer

from tuskflow.cli.listing import JsonOption, print_listing
from tuskflow.config import Settings

if TYPE_CHECKING:
    from tuskflow.deploy.local import LocalStack
    from tuskflow.deploy.local.worker import EtlWorker

app = typer.Typer(help="Start, stop and report the local services.", no_args_is_help=True)

ServiceNames = Annotated[
    list[str] | None, typer.Argument(help="only these: postgres, redis, kafka")
]
# `status` exits with this when a local service is stopped, as LSB init scripts do.
EXIT_NOT_RUNNING = 3


def _worker(settings: Settings) -> "EtlWorker":
    from tuskflow.deploy.local.worker import EtlWorker

    return EtlWorker(settings.state_dir)


def _stack(ctx: typer.Context) -> "LocalStack":
    from tuskflow.deploy.local import LocalStack

    settings: Settings = ctx.obj
    return LocalStack(settings)


@app.command()
def up(ctx: typer.Context, services: ServiceNames = None) -> None:
    """Start every local service (or those named) that is not running; wait until each answers."""
    for line in _stack(ctx).up(services or ()):
        typer.echo(line)
    typer.echo('point clients at them with: eval "$(tuskflow local env)"')


@app.command()
def down(ctx: typer.Context, services: ServiceNames = None) -> None:
    """Stop the local worker and services (or those named) and wait until no process of
    theirs is left."""
    settings: Settings = ctx.obj
    if not services and _worker(settings).stop():
        typer.echo("worker: stopped")
    for line in _stack(ctx).down(services or ()):
        typer.echo(line)


@app.command()
def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Say what runs where, its version and pid, and the local ETL worker; exit 3 when a
    local service is stopped."""
    settings: Settings = ctx.obj
    statuses = _stack(ctx).status()
    rows = [
        {
            "service": service.name,
            "state": service.state,
            "address": service.address,
            "version": service.version,
            "pid": service.pid,
        }
        for service in statuses
    ]
    worker = _worker(settings)
    pid = worker.pid()
    rows.append(
        {
            "service": worker.name,
            "state": "stopped" if pid is None else "running",
            "address": f"ETL queue, log {worker.log}",
            "version": "",
            "pid": pid,
        }
    )
    print_listing(rows, as_json, empty="")
    if any(service.state == "stopped" for service in statuses):
        raise typer.Exit(EXIT_NOT_RUNNING)


@app.command()
def env(ctx: typer.Context) -> None:
    """Print `export TUSKFLOW_...` lines for the running local services."""
    for line in _stack(ctx).env():
        typer.echo(line)


@app.command()
def worker(
    ctx: typer.Context,
    action: Annotated[str, typer.Argument(help="start or stop")],
) -> None:
    """Start or stop a Celery worker on the ETL queue, pointed at the local services."""
    settings: Settings = ctx.obj
    etl_worker = _worker(settings)
    if action == "stop":
        typer.echo("worker: stopped" if etl_worker.stop() else "worker: not running")
        return
    if action != "start":
        raise typer.BadParameter(f"{action!r}: say start or stop")
    started = etl_worker.start(_stack(ctx).urls())
    typer.echo(f"worker: {'started' if started else 'already running'}, log in {etl_worker.log}")
