"""Markers by folder: tests under integration/ and e2e/ carry their marker automatically."""

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by the folder it lives in, so `-m "not e2e"` selects as expected."""
    for item in items:
        parts = item.path.parts
        for marker in ("integration", "e2e"):
            if marker in parts:
                item.add_marker(getattr(pytest.mark, marker))
