"""`tuskflow metrics serve`: the whole system's Prometheus metrics on one endpoint
(monitoring/system_metrics.py), read afresh at each scrape."""

import contextlib
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from tuskflow.config import Settings

if TYPE_CHECKING:
    from tuskflow.monitoring.status import SystemStatus

app = typer.Typer(help="The whole system's Prometheus metrics.", no_args_is_help=True)


@app.command()
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="serve /metrics on this port")] = 9464,
    address: Annotated[
        str, typer.Option(help="listen here (127.0.0.1: this host only)")
    ] = "127.0.0.1",
) -> None:
    """Serve tuskflow_* metrics of every part (processes, queues, jobs, consumer lag,
    schedules, the store) until stopped; each scrape reads the system as `tuskflow status`."""
    from prometheus_client import CollectorRegistry, start_http_server

    from tuskflow.config.database import probe
    from tuskflow.config.metrics_server import check_port
    from tuskflow.monitoring.status import system_status
    from tuskflow.monitoring.system_metrics import SystemCollector

    settings: Settings = ctx.obj
    database_url, redis_url = settings.required("database_url"), settings.required("redis_url")
    probe(database_url, "metrics")
    check_port(address, port, "the system's metrics", "--port")

    def read() -> "SystemStatus":
        return system_status(
            database_url,
            redis_url,
            settings.kafka_bootstrap,
            settings.schedule_file,
            settings.dask_scheduler,
        )

    registry = CollectorRegistry()
    registry.register(SystemCollector(read))
    start_http_server(port, addr=address, registry=registry)
    typer.echo(f"tuskflow metrics on http://{address}:{port}/metrics", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
