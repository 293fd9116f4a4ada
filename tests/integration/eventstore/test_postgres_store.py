"""The event store contract on PostgreSQL, each test in a fresh migrated schema."""

from collections.abc import Iterator

import pytest

from tests.eventstore_contract import EventStoreContract
from tuskflow.eventstore import PostgresEventStore


class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture
    def store(self, migrated_url: str) -> Iterator[PostgresEventStore]:
        with PostgresEventStore(migrated_url, max_event_bytes=4096) as store:
            yield store
