"""The submit API for producer scripts, and the Celery beat schedule."""
