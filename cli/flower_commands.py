"""`tuskflow flower`: Flower for the configured broker, behind a login (monitoring/flower.py)."""

import os
from typing import Annotated

import typer

from tuskflow.config import Settings
from tuskflow.config.errors import ConfigError
from tuskflow.config.settings import env_var


def flower(
    ctx: typer.Context,
    address: Annotated[
        str | None, typer.Option(help=f"listen here (default {env_var('flower_address')})")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help=f"listen on this port (default {env_var('flower_port')})")
    ] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="no login at all: anyone who reaches it can use it")
    ] = False,
) -> None:
    """Run Flower for tuskflow's workers until stopped: basic auth from
    TUSKFLOW_FLOWER_BASIC_AUTH, on 127.0.0.1:5555 by default, its /metrics behind the login."""
    from tuskflow.config.metrics_server import check_port
    from tuskflow.config.redis_probe import probe_redis
    from tuskflow.monitoring.flower import main

    settings: Settings = ctx.obj
    login = settings.flower_basic_auth
    if login is None and not no_auth:
        raise ConfigError(
            f"Flower needs a login: set {env_var('flower_basic_auth')}=user:password, or start it"
            " with --no-auth to leave every page open to whoever reaches it"
        )
    listen, listen_port = address or settings.flower_address, port or settings.flower_port
    probe_redis(settings.required("redis_url"))
    check_port(listen, listen_port, "Flower", "--port")
    os.environ.pop("FLOWER_BASIC_AUTH", None)
    if login is None:
        typer.echo(
            f"tuskflow: Flower on {listen}:{listen_port} has no login (--no-auth): anyone who"
            " reaches it can see and control the workers",
            err=True,
        )
    else:
        os.environ["FLOWER_BASIC_AUTH"] = login
        typer.echo(f"Flower on http://{listen}:{listen_port}/, login required", err=True)
    main(listen, listen_port)
