"""The submit API for producer scripts, and the Celery beat schedule."""

from scheduler.submit import cancel, retry, status, submit, validate, wait

__all__ = ["cancel", "retry", "status", "submit", "validate", "wait"]
