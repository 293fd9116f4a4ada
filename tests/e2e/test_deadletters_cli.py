"""`tuskflow deadletters list|replay` as a person runs them."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
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


# The mapping that made the letters: a type from field 'kind', and only 'Reading' accepted, so
# that a message without 'kind' (typed by its topic's name) is refused.
STRICT = MappingSpec(event_type="field:kind", accepted_types=("Reading",))


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
    letter = map_message(STRICT, message, 4096)
    assert isinstance(letter, DeadLetter)
    return letter


def _record(url: str, letters: list[DeadLetter]) -> None:
    with PostgresEventStore(url, pool_size=1) as store:
        store.write_batch(store.prepare([]), letters)


def test_list_shows_reasons_and_replay_with_a_fixed_mapping_stores_the_events(
    migrated_url: str,
) -> None:
    _record(migrated_url, [_poison(1, {"type": "Measured"}), _poison(2, {"type": ["x"]})])

    listed = _tuskflow("deadletters", "list", url=migrated_url)
    replay = _tuskflow("deadletters", "replay", "--type", "field:type", url=migrated_url)
    after = _tuskflow("deadletters", "list", url=migrated_url)
    after_json = _listed("deadletters", "list", "--json", url=migrated_url)
    everything = _listed("deadletters", "list", "--all", "--json", url=migrated_url)

    assert listed.returncode == 0, listed.stderr
    assert "kafka:readings/0/1" in listed.stdout
    assert "no field 'kind') is not one this mapping accepts" in listed.stdout
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


def _letter(topic: str, partition: int, offset: int, value: bytes) -> DeadLetter:
    message = SourceMessage(
        source="kafka",
        source_key=f"kafka:{topic}/{partition}/{offset}",
        coordinates={"topic": topic, "partition": partition, "offset": offset},
        key=b"meter-3",
        value=value,
    )
    letter = map_message(STRICT, message, 4096)
    assert isinstance(letter, DeadLetter)
    return letter


def _redis_letter(entry_id: str) -> DeadLetter:
    message = SourceMessage(
        source="redis",
        source_key=f"redis:readings/{entry_id}",
        coordinates={"stream": "readings", "entry_id": entry_id},
        key=b"meter-4",
        value=b'{"type": "Measured"}',
    )
    letter = map_message(STRICT, message, 4096)
    assert isinstance(letter, DeadLetter)
    return letter


def _mixed_letters(url: str) -> None:
    """Six letters: by source, topic, partition and reason, two of them failed a day ago."""
    typed = b'{"type": "Measured"}'
    _record(
        url,
        [
            _letter("readings", 0, 1, typed),  # old
            _letter("readings", 0, 2, typed),
            _letter("readings", 1, 3, typed),
            _letter("readings", 1, 4, b"not json"),
            _letter("other", 0, 5, typed),  # old
            _redis_letter("1-0"),
        ],
    )
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE dead_letters SET first_failed_at = now() - interval '1 day'"
            " WHERE source_key IN ('kafka:readings/0/1', 'kafka:other/0/5')"
        )


def _keys(rows: list[dict[str, object]]) -> list[object]:
    return [row["source_key"] for row in rows]


def test_list_narrows_by_source_topic_partition_reason_and_time(migrated_url: str) -> None:
    _mixed_letters(migrated_url)
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")

    def listed(*options: str) -> list[object]:
        return _keys(_listed("deadletters", "list", "--json", *options, url=migrated_url))

    assert listed("--source", "redis") == ["redis:readings/1-0"]
    assert listed("--topic", "readings", "--source", "kafka") == [
        "kafka:readings/0/1",
        "kafka:readings/0/2",
        "kafka:readings/1/3",
        "kafka:readings/1/4",
    ]
    assert listed("--topic", "readings", "--partition", "1") == [
        "kafka:readings/1/3",
        "kafka:readings/1/4",
    ]
    assert listed("--reason", "IS NOT json") == ["kafka:readings/1/4"]
    assert listed("--until", hour_ago) == ["kafka:readings/0/1", "kafka:other/0/5"]
    assert listed("--since", hour_ago, "--topic", "readings", "--partition", "0") == [
        "kafka:readings/0/2"
    ]


def test_replay_by_reason_and_time_replays_exactly_those_and_dry_run_stores_nothing(
    migrated_url: str,
) -> None:
    _mixed_letters(migrated_url)
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    chosen = ("--reason", "not one this mapping accepts", "--since", hour_ago, "--source", "kafka")

    preview = _listed(
        "deadletters", "replay", "--type", "field:type", *chosen, "--dry-run", "--json",
        url=migrated_url,
    )  # fmt: skip
    with psycopg.connect(migrated_url) as conn:
        after_preview = conn.execute("SELECT count(*) FROM events").fetchone()
    replay = _tuskflow(
        "deadletters", "replay", "--type", "field:type", *chosen, "--json", url=migrated_url
    )
    still_open = _keys(_listed("deadletters", "list", "--json", url=migrated_url))

    assert [(row["source_key"], row["event_type"], row["still_failing"]) for row in preview] == [
        ("kafka:readings/0/2", "Measured", None),
        ("kafka:readings/1/3", "Measured", None),
    ]
    assert after_preview == (0,)
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout) == {"replayed": 2, "failed": 0}
    assert still_open == [
        "kafka:readings/0/1",
        "kafka:readings/1/4",
        "kafka:other/0/5",
        "redis:readings/1-0",
    ]
    with psycopg.connect(migrated_url) as conn:
        stored = conn.execute("SELECT metadata->>'offset' FROM events ORDER BY 1").fetchall()
    assert stored == [("2",), ("3",)]
