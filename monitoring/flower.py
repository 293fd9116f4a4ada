"""Flower for tuskflow's Celery app, its metrics behind the same login as its pages.

`tuskflow flower` runs this module (``python -m tuskflow.monitoring.flower``) with the login in
FLOWER_BASIC_AUTH, Flower's own variable, so that it never shows in a process listing. Flower
2.x serves ``/metrics`` to anyone, even with basic auth on (its handler asks for no user);
here that handler is replaced, before Flower builds its application, by one that asks for the
login. ``/healthcheck`` stays open: it says only "OK", for a probe.
"""

import sys
from typing import Any

import tornado.web
from flower import urls
from flower.views.monitor import Metrics

from tuskflow.config.celery import CELERY_APP_MODULE


class LoginMetrics(Metrics):  # type: ignore[misc]  # flower has no types
    """Flower's Prometheus metrics, for a logged-in user only."""

    @tornado.web.authenticated
    async def get(self) -> None:
        """The metrics, after the login."""
        await super().get()


def guard_metrics(handlers: list[Any]) -> None:
    """Put LoginMetrics in place of Flower's open metrics handler, in place."""
    for index, handler in enumerate(handlers):
        if isinstance(handler, tuple) and handler[1] is Metrics:
            handlers[index] = (handler[0], LoginMetrics, *handler[2:])


def main(address: str, port: int) -> None:
    """Run Flower for the tuskflow app on ``address:port`` until it is stopped."""
    guard_metrics(urls.handlers)
    from celery.bin.celery import main as celery_main  # noqa: PLC0415 - after the guard

    sys.argv = [
        "celery",
        "-A",
        CELERY_APP_MODULE,
        "flower",
        f"--address={address}",
        f"--port={port}",
    ]
    celery_main()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
