"""The Celery app, `celery -A tuskflow.tasks worker -Q etl,maintenance`, built from Settings."""

from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any

from celery import Celery
from celery.signals import setup_logging

from tuskflow.config.celery import celery_config
from tuskflow.config.logging import configure_logging
from tuskflow.config.settings import process_settings

settings = process_settings  # the tasks' name for it


class _ConfigFromSettings(Mapping[str, Any]):
    """The Celery configuration, built from Settings the first time Celery reads it."""

    @cached_property
    def _values(self) -> dict[str, Any]:
        return celery_config(settings())

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


app = Celery(
    "tuskflow",
    include=[
        "tuskflow.tasks.etl_jobs",
        "tuskflow.tasks.dask_owner",
        "tuskflow.tasks.lease_reaper",
        "tuskflow.tasks.maintenance",
        "tuskflow.tasks.heartbeat",
    ],
)
app.config_from_object(_ConfigFromSettings())


@setup_logging.connect
def _configure_logging(**_: Any) -> None:
    """A worker logs through structlog like every other tuskflow process."""
    configure_logging(settings())
