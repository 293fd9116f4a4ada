"""The Celery app and thin tasks that call into etl/ and eventstore/."""

from tuskflow.tasks.app import app

__all__ = ["app"]
