"""`tuskflow local up|down|status|env`: the local PostgreSQL, Redis and Kafka."""

from typing import Annotated

import typer

from tuskflow.config import Settings
from tuskflow.deploy.local import LocalStack
from tuskflow.deploy.local.worker import EtlWorker

app = typer.Typer(help="Start, stop and report the local services.", no_args_is_help=True)

# `status` exits with this when a local service is stopped, as LSB init scripts do.
EXIT_NOT_RUNNING = 3


def _stack(ctx: typer.Context) -> LocalStack:
    settings: Settings = ctx.obj
    return LocalStack(settings)


@app.command()
def up(
    ctx: typer.Context,
    services: Annotated[
        list[str] | None, typer.Argument(help="only these: postgres, redis, kafka")
    ] = None,
) -> None:
    """Start every local service (or those named) that is not running; wait until each answers."""
    for line in _stack(ctx).up(services or ()):
        typer.echo(line)
    typer.echo('point clients at them with: eval "$(tuskflow local env)"')


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the local worker and services and wait until no process of theirs is left."""
    settings: Settings = ctx.obj
    if EtlWorker(settings.state_dir).stop():
        typer.echo("worker: stopped")
    for line in _stack(ctx).down():
        typer.echo(line)


@app.command()
def status(ctx: typer.Context) -> None:
    """Say what runs where and its version; exit 3 when a local service is stopped."""
    statuses = _stack(ctx).status()
    for service in statuses:
        typer.echo(service.line())
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
    etl_worker = EtlWorker(settings.state_dir)
    if action == "stop":
        typer.echo("worker: stopped" if etl_worker.stop() else "worker: not running")
        return
    if action != "start":
        raise typer.BadParameter(f"{action!r}: say start or stop")
    started = etl_worker.start(_stack(ctx).urls())
    typer.echo(f"worker: {'started' if started else 'already running'}, log in {etl_worker.log}")
