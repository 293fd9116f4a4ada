"""The Celery app and thin tasks that call into etl/ and eventstore/."""
