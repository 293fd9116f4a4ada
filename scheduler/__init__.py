"""The submit API for producer scripts, and the Celery beat schedule."""

from tuskflow.scheduler.submit import cancel, history, retry, status, submit, validate, wait

__all__ = ["cancel", "history", "retry", "status", "submit", "validate", "wait"]
