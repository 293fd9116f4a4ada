"""The Celery app and thin tasks that call into etl/ and eventstore/."""

from tasks.app import app

__all__ = ["app"]
