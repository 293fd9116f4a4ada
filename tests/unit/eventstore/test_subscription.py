"""Catch-up subscriptions: every event after a durable checkpoint, filtered, at least once."""

import threading

import pytest

from tuskflow.eventstore import CatchUpSubscription, InMemoryEventStore, NewEvent, RecordedEvent
from tuskflow.eventstore.subscription import PollingWaker


def _fill(store: InMemoryEventStore) -> None:
    for n in range(10):
        stream = "order-1" if n % 2 else "invoice-1"
        store.append(stream, [NewEvent("Placed" if n % 2 else "Billed", {"n": n})])


def test_subscription_hands_over_every_event_once_and_keeps_its_place() -> None:
    store = InMemoryEventStore()
    _fill(store)
    seen: list[int] = []
    handler = lambda events: seen.extend(e.data["n"] for e in events)  # noqa: E731

    first = CatchUpSubscription(store, "reports", handler, batch_size=3)
    handled = first.catch_up()
    store.append("order-1", [NewEvent("Placed", {"n": 10})])
    resumed = CatchUpSubscription(store, "reports", handler, batch_size=3)
    later = resumed.catch_up()

    assert handled == 10
    assert later == 1
    assert seen == list(range(11))
    assert store.checkpoint("reports") == store.head()


def test_filtered_subscription_skips_other_events_but_moves_its_checkpoint() -> None:
    store = InMemoryEventStore()
    _fill(store)
    seen: list[RecordedEvent] = []

    subscription = CatchUpSubscription(
        store, "orders", seen.extend, event_types=["Placed"], category="order-"
    )
    subscription.catch_up()

    assert [e.data["n"] for e in seen] == [1, 3, 5, 7, 9]
    assert store.checkpoint("orders") == store.head()


def test_failing_handler_leaves_the_checkpoint_so_the_page_comes_again() -> None:
    store = InMemoryEventStore()
    _fill(store)
    attempts: list[int] = []

    def flaky(events: list[RecordedEvent]) -> None:
        attempts.append(len(events))
        if len(attempts) == 1:
            raise RuntimeError("projection database away")

    subscription = CatchUpSubscription(store, "flaky", flaky, batch_size=4)
    with pytest.raises(RuntimeError, match="projection database away"):
        subscription.catch_up()
    subscription.catch_up()

    assert attempts[:2] == [4, 4]
    assert store.checkpoint("flaky") == store.head()


def test_run_follows_new_events_until_stopped() -> None:
    store = InMemoryEventStore()
    seen: list[RecordedEvent] = []
    stop = threading.Event()
    subscription = CatchUpSubscription(store, "live", seen.extend)
    runner = threading.Thread(
        target=subscription.run, args=(stop, PollingWaker(stop)), kwargs={"poll_interval_s": 0.01}
    )
    runner.start()
    store.append("order-1", [NewEvent("Placed", {"n": 1})])
    for _ in range(500):
        if seen:
            break
        stop.wait(0.01)
    stop.set()
    runner.join(timeout=5)

    assert [e.data for e in seen] == [{"n": 1}]
    assert not runner.is_alive()
