"""`tuskflow local up|down|status|env`: the local PostgreSQL, Redis and Kafka."""

import typer

from config import Settings
from deploy.local import LocalStack

app = typer.Typer(help="Start, stop and report the local services.", no_args_is_help=True)

# `status` exits with this when a local service is stopped, as LSB init scripts do.
EXIT_NOT_RUNNING = 3


def _stack(ctx: typer.Context) -> LocalStack:
    settings: Settings = ctx.obj
    return LocalStack(settings)


@app.command()
def up(ctx: typer.Context) -> None:
    """Start every local service that is not running and wait until each answers."""
    for line in _stack(ctx).up():
        typer.echo(line)
    typer.echo('point clients at them with: eval "$(tuskflow local env)"')


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the local services and wait until no process of theirs is left."""
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
