"""The event store contract on the in-memory store."""

import pytest

from tests.eventstore_contract import EventStoreContract
from tuskflow.eventstore import InMemoryEventStore


class TestInMemoryEventStore(EventStoreContract):
    @pytest.fixture
    def store(self) -> InMemoryEventStore:
        return InMemoryEventStore(max_event_bytes=4096)
