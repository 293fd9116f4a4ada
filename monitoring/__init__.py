"""Watching the whole system: Flower behind a login (``flower.py``), and what `tuskflow status`
reads from PostgreSQL and the brokers (``status.py``)."""
