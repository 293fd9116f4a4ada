"""The fire ledger on a real PostgreSQL and in memory: each fire is recorded, and so sent, by
one beat only, however many record it at once; a fire left unsent is taken over once."""

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tuskflow.eventstore import InMemoryEventStore, NewEvent, PostgresEventStore
from tuskflow.eventstore.store import EventStore
from tuskflow.jobs import job as lifecycle
from tuskflow.scheduler.fire_ledger import (
    FireLedger,
    JobToStart,
    fire_key,
    job_id_of,
    stream_of,
)

JOB = JobToStart("nightly-sales", '{"name": "nightly-sales"}')
NOMINAL = datetime(2026, 12, 4, 2, 30, tzinfo=UTC)


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[EventStore]:
    if request.param == "memory":
        yield InMemoryEventStore()
        return
    url = request.getfixturevalue("migrated_url")
    with PostgresEventStore(url, pool_size=4) as postgres:
        yield postgres


def test_the_first_beat_to_record_a_fire_sends_it_and_a_second_records_nothing(
    store: EventStore,
) -> None:
    first, second = FireLedger(store), FireLedger(store)

    fire = first.record("nightly", NOMINAL, "schedule", JOB)
    again = second.record("nightly", NOMINAL, "schedule", JOB)

    assert fire is not None
    assert again is None
    assert fire.job_id == job_id_of(fire_key("nightly", NOMINAL))
    assert [e.event_type for e in store.read_stream(stream_of("nightly"))] == ["FireRecorded"]
    [submitted] = store.read_stream(lifecycle.stream_of(fire.job_id))
    assert (submitted.event_type, submitted.data["submitted_by"]) == (
        "JobSubmitted",
        "schedule:nightly",
    )


def test_a_beat_that_read_another_spec_still_records_nothing(store: EventStore) -> None:
    ledger = FireLedger(store)
    ledger.record("nightly", NOMINAL, "schedule", JOB)

    edited = JobToStart("nightly-sales", '{"name": "nightly-sales", "edited": true}')

    assert ledger.record("nightly", NOMINAL, "schedule", edited) is None


def test_many_beats_recording_the_same_fires_at_once_record_each_once(
    migrated_url: str,
) -> None:
    beats, fires = 4, 40
    nominals = [NOMINAL + timedelta(seconds=10 * i) for i in range(fires)]
    won: Counter[datetime] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(beats)

    def beat() -> None:
        with PostgresEventStore(migrated_url, pool_size=1) as store:
            ledger = FireLedger(store)
            start.wait()
            for nominal in nominals:
                if ledger.record("often", nominal, "schedule", JOB) is not None:
                    with lock:
                        won[nominal] += 1

    threads = [threading.Thread(target=beat) for _ in range(beats)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    print(f"\nfires {fires}, beats {beats}: recorded {sum(won.values())}, "
          f"missing {fires - len(won)}, doubled {sum(n - 1 for n in won.values())}")  # fmt: skip
    assert won == dict.fromkeys(nominals, 1)


def test_a_fire_left_unsent_is_taken_over_by_one_beat_once_it_has_been_idle(
    store: EventStore,
) -> None:
    ledger = FireLedger(store)
    fire = ledger.record("nightly", NOMINAL, "schedule", JOB)
    assert fire is not None
    sent_one = ledger.record("nightly", NOMINAL + timedelta(days=1), "schedule", JOB)
    assert sent_one is not None
    ledger.sent([sent_one])
    later = datetime.now(UTC) + timedelta(seconds=1)

    assert ledger.fires("nightly").unsent(idle_since=datetime.now(UTC) - timedelta(hours=1)) == []
    [unsent] = ledger.fires("nightly").unsent(idle_since=later)
    assert unsent.fire == fire
    assert [ledger.take_over(unsent, "beat-a"), ledger.take_over(unsent, "beat-b")] == [
        True,
        False,
    ]
    assert ledger.fires("nightly").unsent(idle_since=datetime.now(UTC) - timedelta(seconds=5)) == []
    ledger.sent([fire])
    ledger.sent([fire])  # twice stores once
    assert ledger.fires("nightly").unsent(idle_since=later + timedelta(seconds=5)) == []
    types = [e.event_type for e in store.read_stream(stream_of("nightly"))]
    assert types == ["FireRecorded", "FireRecorded", "FireSent", "FireTakenOver", "FireSent"]


def test_a_skipped_fire_is_one_verdict_and_is_never_recorded_as_a_fire(store: EventStore) -> None:
    ledger = FireLedger(store)

    assert ledger.skipped("nightly", NOMINAL, "schedule", "overlap: the last job still runs")
    assert not ledger.skipped("nightly", NOMINAL, "schedule", "overlap: the last job still runs")
    assert ledger.record("nightly", NOMINAL, "schedule", JOB) is None
    assert ledger.fires("nightly").unsent(idle_since=datetime.now(UTC) + timedelta(seconds=1)) == []


def test_the_schedule_resumes_from_its_own_latest_nominal_time_not_a_manual_one(
    store: EventStore,
) -> None:
    ledger = FireLedger(store)
    ledger.record("nightly", NOMINAL, "schedule", JOB)
    ledger.skipped("nightly", NOMINAL + timedelta(days=1), "schedule", "missed: skip")
    ledger.record("nightly", NOMINAL + timedelta(days=5), "manual", JOB)

    assert ledger.fires("nightly").last_nominal == NOMINAL + timedelta(days=1)
    assert ledger.fires("weekly").last_nominal is None


def test_beats_taking_over_the_same_unsent_fire_at_once_take_it_once(migrated_url: str) -> None:
    beats = 4
    with PostgresEventStore(migrated_url, pool_size=1) as store:
        FireLedger(store).record("nightly", NOMINAL, "schedule", JOB)
    taken: list[bool] = []
    start = threading.Barrier(beats)

    def beat(name: str) -> None:
        with PostgresEventStore(migrated_url, pool_size=1) as store:
            ledger = FireLedger(store)
            [unsent] = ledger.fires("nightly").unsent(idle_since=datetime.now(UTC) + timedelta(1))
            start.wait()
            taken.append(ledger.take_over(unsent, name))

    threads = [threading.Thread(target=beat, args=(f"beat-{i}",)) for i in range(beats)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(taken) == [False] * (beats - 1) + [True]


def test_an_event_no_beat_wrote_in_a_schedule_stream_stops_no_beat(store: EventStore) -> None:
    store.append(stream_of("stray"), [NewEvent("FireRecorded", {"a": 1}, {})])
    ledger = FireLedger(store)
    fire = ledger.record("nightly", NOMINAL, "schedule", JOB)

    ledger.catch_up()

    assert ledger.state("nightly").last_fire == fire
    assert ledger.state("stray").last_fire is None
