"""Dead letters: replayed through a fixed mapping into events, and never reopened afterwards."""

import json
from collections.abc import Iterator

import psycopg
import pytest

from tuskflow.eventstore import PostgresEventStore
from tuskflow.eventstore.records import DeadLetter
from tuskflow.workers.deadletter_replay import replay_dead_letters
from tuskflow.workers.ingest import map_batch, store_batch
from tuskflow.workers.mapping import MappingSpec, SourceMessage, map_message


def _message(offset: int, payload: object, key: bytes = b"meter-1") -> SourceMessage:
    return SourceMessage(
        source="kafka",
        source_key=f"kafka:readings/0/{offset}",
        coordinates={"topic": "readings", "partition": 0, "offset": offset},
        key=key,
        value=json.dumps(payload).encode(),
    )


@pytest.fixture
def store(migrated_url: str) -> Iterator[PostgresEventStore]:
    with PostgresEventStore(migrated_url, pool_size=2) as store:
        yield store


def _record(store: PostgresEventStore, letters: list[DeadLetter]) -> None:
    store.write_batch(store.prepare([]), letters)


def test_dead_letters_that_map_now_become_events_and_the_rest_count_an_attempt(
    migrated_url: str, store: PostgresEventStore
) -> None:
    strict = MappingSpec(accepted_types=("Measured",))
    fixed = MappingSpec(accepted_types=("Measured", "Calibrated"))
    messages = [
        _message(1, {"type": "Calibrated", "by": "ada"}),
        _message(2, {"type": "Deleted"}),
    ]
    letters = [map_message(strict, m, 4096) for m in messages]
    assert all(isinstance(letter, DeadLetter) for letter in letters)
    _record(store, [letter for letter in letters if isinstance(letter, DeadLetter)])

    outcome = replay_dead_letters(store, fixed, 4096)

    open_letters = store.dead_letters()
    replayed = store.dead_letters(include_replayed=True)
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        event = conn.execute("SELECT stream_id, event_type, metadata FROM events").fetchall()

    assert (outcome.replayed, outcome.failed) == (1, 1)
    assert [letter.letter.source_key for letter in open_letters] == ["kafka:readings/0/2"]
    assert open_letters[0].attempts == 2
    assert "'Deleted' is not one this mapping accepts" in open_letters[0].letter.reason
    [done] = [letter for letter in replayed if letter.replayed_at is not None]
    assert done.replayed_position is not None
    metadata = {
        "source": "kafka",
        "topic": "readings",
        "partition": 0,
        "offset": 1,
        "key": "meter-1",
    }
    assert event == [("meter-1", "Calibrated", metadata)]


def test_replayed_dead_letter_stays_replayed_when_the_message_comes_again(
    store: PostgresEventStore,
) -> None:
    strict = MappingSpec(accepted_types=("Measured",))
    message = _message(7, {"type": "Calibrated"})
    letter = map_message(strict, message, 4096)
    assert isinstance(letter, DeadLetter)
    _record(store, [letter])
    replay_dead_letters(store, MappingSpec(), 4096)

    _record(store, [letter])  # the source re-delivers the poison message

    [stored] = store.dead_letters(include_replayed=True)
    still_open = store.dead_letters()

    assert stored.replayed_at is not None
    assert stored.attempts == 2
    assert still_open == []


def test_event_postgres_refuses_becomes_a_dead_letter_and_the_rest_are_stored(
    migrated_url: str, store: PostgresEventStore
) -> None:
    # Stands in for any content PostgreSQL refuses that validation did not foresee.
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION refuse_explosives() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN IF NEW.data ? 'explode' THEN"
            " RAISE EXCEPTION 'cannot store explosives' USING ERRCODE = '22000'; END IF;"
            " RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER refuse_explosives BEFORE INSERT ON events"
            " FOR EACH ROW EXECUTE FUNCTION refuse_explosives()"
        )
        messages = [
            _message(1, {"type": "Measured", "value": 1}),
            _message(2, {"type": "Measured", "explode": True}),
            _message(3, {"type": "Measured", "value": 3}),
        ]

        mapped = map_batch(store, messages, MappingSpec(), 4096)
        outcome = store_batch(store, mapped, None, lambda outcome, progress: None)

        stored = conn.execute("SELECT data->>'value' FROM events ORDER BY 1").fetchall()
        [letter] = store.dead_letters()

    assert (outcome.new, outcome.dead) == (2, 1)
    assert stored == [("1",), ("3",)]
    assert letter.letter.source_key == "kafka:readings/0/2"
    assert "PostgreSQL refused the event: cannot store explosives" in letter.letter.reason
