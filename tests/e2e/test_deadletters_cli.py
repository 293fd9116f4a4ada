"""`tuskflow deadletters list|replay` as a person runs them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

from tuskflow.eventstore import PostgresEventStore
from tuskflow.eventstore.records import DeadLetter
from tuskflow.workers.mapping import MappingSpec, SourceMessage, map_message

TUSKFLOW = Path(sys.executable).with_name("tuskflow")


def _tuskflow(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSKFLOW_")}
    env.update(TUSKFLOW_DATABASE_URL=url, TUSKFLOW_LOG_FORMAT="json")
    return subprocess.run(
        [str(TUSKFLOW), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _listed(*args: str, url: str) -> list[dict[str, object]]:
    """A listing's --json lines, parsed; the command must succeed."""
    done = _tuskflow(*args, url=url)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def _poison(offset: int, payload: object) -> DeadLetter:
    message = SourceMessage(
        source="kafka",
        source_key=f"kafka:readings/0/{offset}",
        coordinates={"topic": "readings", "partition": 0, "offset": offset},
        key=b"meter-3",
        value=json.dumps(payload).encode(),
    )
    letter = map_message(MappingSpec(event_type="field:kind"), message, 4096)
    assert isinstance(letter, DeadLetter)
    return letter


def _record(url: str, letters: list[DeadLetter]) -> None:
    with PostgresEventStore(url, pool_size=1) as store:
        store.write_batch(store.prepare([]), letters)


def test_list_shows_reasons_and_replay_with_a_fixed_mapping_stores_the_events(
    migrated_url: str,
) -> None:
    _record(migrated_url, [_poison(1, {"type": "Measured"}), _poison(2, {"v": 1})])

    listed = _tuskflow("deadletters", "list", url=migrated_url)
    replay = _tuskflow("deadletters", "replay", "--type", "field:type", url=migrated_url)
    after = _tuskflow("deadletters", "list", url=migrated_url)
    after_json = _listed("deadletters", "list", "--json", url=migrated_url)
    everything = _listed("deadletters", "list", "--all", "--json", url=migrated_url)

    assert listed.returncode == 0, listed.stderr
    assert "kafka:readings/0/1" in listed.stdout
    assert "missing event type: no usable field 'kind'" in listed.stdout
    assert replay.returncode == 1  # one of the two still fails
    assert "replayed 1, still failing 1" in replay.stdout
    assert "kafka:readings/0/1" not in after.stdout
    assert "kafka:readings/0/2" in after.stdout
    assert [(row["source_key"], row["attempts"]) for row in after_json] == [
        ("kafka:readings/0/2", 2)
    ]
    replayed = {row["source_key"]: row["replayed_position"] for row in everything}
    assert replayed["kafka:readings/0/2"] is None
    assert isinstance(replayed["kafka:readings/0/1"], int)
    with psycopg.connect(migrated_url) as conn:
        events = conn.execute("SELECT stream_id, event_type FROM events").fetchall()
    assert events == [("meter-3", "Measured")]


def test_replay_refuses_a_malformed_mapping_before_touching_anything(migrated_url: str) -> None:
    _record(migrated_url, [_poison(1, {"type": "Measured"})])

    refused = _tuskflow("deadletters", "replay", "--stream-id", "nonsense", url=migrated_url)

    assert refused.returncode == 2
    assert "invalid mapping: --stream-id='nonsense'" in refused.stderr
    assert "Traceback" not in refused.stderr
    [letter] = _listed("deadletters", "list", "--json", url=migrated_url)
    assert letter["attempts"] == 1
