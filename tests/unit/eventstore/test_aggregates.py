"""Aggregates: load by folding events, save with expected version, snapshots, upcasting."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest

from tuskflow.eventstore import (
    Aggregate,
    AggregateRepository,
    InMemoryEventStore,
    NewEvent,
    RecordedEvent,
    Upcaster,
    VersionConflictError,
)
from tuskflow.eventstore.records import JsonObject


class Account(Aggregate):
    def __init__(self, stream_id: str) -> None:
        super().__init__(stream_id)
        self.balance = 0
        self.owner = ""

    def apply(self, event_type: str, data: JsonObject) -> None:
        if event_type == "Opened":
            self.owner = data["owner"]
        elif event_type == "Deposited":
            self.balance += data["amount"]

    def snapshot_state(self) -> JsonObject:
        return {"balance": self.balance, "owner": self.owner}

    def restore(self, state: JsonObject) -> None:
        self.balance, self.owner = state["balance"], state["owner"]


class CountingStore(InMemoryEventStore):
    """Counts the events that loads read, to prove what a snapshot saves."""

    def __init__(self) -> None:
        super().__init__()
        self.events_read = 0

    def read_stream(
        self, stream_id: str, from_version: int = 1, **options: Any
    ) -> list[RecordedEvent]:
        events = super().read_stream(stream_id, from_version, **options)
        self.events_read += len(events)
        return events


def _open(
    repository: AggregateRepository[Account], stream_id: str, deposits: Sequence[int]
) -> Account:
    account = Account(stream_id)
    account.record("Opened", {"owner": "ada"})
    for amount in deposits:
        account.record("Deposited", {"amount": amount})
    repository.save(account)
    return account


def test_saved_aggregate_loads_with_the_same_state_and_version() -> None:
    repository = AggregateRepository(InMemoryEventStore(), Account)
    _open(repository, "account-1", [10, 5])

    loaded = repository.load("account-1")

    assert (loaded.owner, loaded.balance, loaded.version) == ("ada", 15, 3)
    assert loaded.pending == ()


def test_concurrent_change_to_the_same_aggregate_is_a_version_conflict() -> None:
    repository = AggregateRepository(InMemoryEventStore(), Account)
    _open(repository, "account-1", [10])
    first, second = repository.load("account-1"), repository.load("account-1")
    first.record("Deposited", {"amount": 1})
    second.record("Deposited", {"amount": 2})
    repository.save(first)

    with pytest.raises(VersionConflictError, match="expected 2, actual 3"):
        repository.save(second)


def test_snapshot_every_n_events_makes_a_load_read_only_the_events_after_it() -> None:
    store = CountingStore()
    repository = AggregateRepository(store, Account, snapshot_every=100)
    _open(repository, "account-1", [1] * 249)  # 250 events: a snapshot at 250
    account = repository.load("account-1")
    account.record("Deposited", {"amount": 1000})
    repository.save(account)  # 251: no new snapshot
    store.events_read = 0

    loaded = repository.load("account-1")

    assert store.load_snapshot("account-1") is not None
    assert (loaded.balance, loaded.version) == (1249, 251)
    assert store.events_read == 1


def test_snapshot_of_an_older_schema_is_ignored_not_misread() -> None:
    store = CountingStore()
    repository = AggregateRepository(store, Account, snapshot_every=10)
    _open(repository, "account-1", [1] * 19)

    class AccountV2(Account):
        snapshot_schema = 2

    loaded = AggregateRepository(store, AccountV2, snapshot_every=10).load("account-1")

    assert (loaded.balance, loaded.version) == (19, 20)
    assert store.events_read >= 20


def test_aggregate_as_of_an_earlier_position_or_time() -> None:
    store = InMemoryEventStore()
    repository = AggregateRepository(store, Account, snapshot_every=2)
    _open(repository, "account-1", [10])
    middle = store.head()
    cutoff = datetime.now().astimezone()
    account = repository.load("account-1")
    account.record("Deposited", {"amount": 90})
    repository.save(account)

    then = repository.load("account-1", as_of_position=middle)
    at_cutoff = repository.load("account-1", as_of_time=cutoff)

    assert (then.balance, then.version) == (10, 2)
    assert (at_cutoff.balance, at_cutoff.version) == (10, 2)
    assert repository.load("account-1").balance == 100


def test_events_of_an_older_schema_are_upcast_on_read() -> None:
    store = InMemoryEventStore()
    store.append("account-1", [NewEvent("Opened", {"owner": "ada"})])
    store.append("account-1", [NewEvent("Deposited", {"cents": 1250})])  # schema 1: cents
    store.append(
        "account-1",
        [NewEvent("Deposited", {"amount": 5}, {"schema_version": 2})],
    )
    upcaster = Upcaster()
    upcaster.register("Deposited", 1, lambda data: {"amount": data["cents"] // 100})

    loaded = AggregateRepository(store, Account, upcaster=upcaster).load("account-1")

    assert loaded.balance == 17
    assert upcaster.current_version("Deposited") == 2
    assert store.read_stream("account-1")[1].data == {"cents": 1250}


def test_upcaster_refuses_two_steps_from_the_same_version() -> None:
    upcaster = Upcaster()
    upcaster.register("Deposited", 1, dict)

    with pytest.raises(ValueError, match="already has a step"):
        upcaster.register("Deposited", 1, dict)
