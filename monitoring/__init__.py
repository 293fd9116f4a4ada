"""Watching the whole system: Flower behind a login (``flower.py``)."""
