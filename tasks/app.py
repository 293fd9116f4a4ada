"""The Celery app: `celery -A tasks worker -Q etl`. Configured from Settings when first used."""

from typing import Any

from celery import Celery

from config.celery import celery_config
from config.logging import configure_logging
from config.settings import Settings, load_settings

app = Celery("tuskflow", include=["tasks.etl_jobs", "tasks.dask_owner"])

_settings: list[Settings] = []


def settings() -> Settings:
    """The process's settings, loaded once from the environment on first use."""
    if not _settings:
        _settings.append(load_settings())
    return _settings[0]


@app.on_configure.connect
def _configure(sender: Celery, **_: Any) -> None:
    current = settings()
    configure_logging(current)
    sender.conf.update(celery_config(current))
