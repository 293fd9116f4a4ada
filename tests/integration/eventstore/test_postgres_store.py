"""The event store contract on PostgreSQL, each test in a fresh migrated schema."""

from collections.abc import Iterator

import pytest

from eventstore import PostgresEventStore
from tests.eventstore_contract import EventStoreContract


class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture
    def store(self, migrated_url: str) -> Iterator[PostgresEventStore]:
        with PostgresEventStore(migrated_url, max_event_bytes=4096) as store:
            yield store
