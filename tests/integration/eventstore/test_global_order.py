"""Gap-safe reads of all events: no event that commits late is ever skipped by a reader.

Writers hold their transactions open for a random while after appending (and some roll back),
so positions are handed out long before the commits land, in every interleaving the scheduler
finds. A reader pages through all events the whole time, moving its position past what it saw,
exactly as a catch-up subscription does.
"""

import random
import threading
import time
import uuid
from collections import defaultdict
from typing import Any

import psycopg

from tuskflow.eventstore import ANY, NewEvent, RecordedEvent, StreamEvent
from tuskflow.eventstore.postgres import _append as append
from tuskflow.eventstore.postgres import queries

WRITERS = 8
TRANSACTIONS_PER_WRITER = 30
STREAMS = 12
ROLLBACK_SHARE = 0.15
MAX_COMMIT_DELAY_S = 0.02


def _writer(url: str, seed: int, committed: list[uuid.UUID], lock: threading.Lock) -> None:
    rng = random.Random(seed)
    with psycopg.connect(url) as conn:
        for _ in range(TRANSACTIONS_PER_WRITER):
            events = [NewEvent("Tick", {"writer": seed}) for _ in range(rng.randint(1, 3))]
            stream = f"gap-{rng.randrange(STREAMS)}"
            if rng.random() < 0.3:
                items = [StreamEvent(f"gap-{rng.randrange(STREAMS)}", e) for e in events]
                append.append_batch(conn, items, 1 << 20)
            else:
                append.append_events(conn, stream, events, ANY, 1 << 20)
            time.sleep(rng.uniform(0, MAX_COMMIT_DELAY_S))
            if rng.random() < ROLLBACK_SHARE:
                conn.rollback()
                continue
            conn.commit()
            with lock:
                committed.extend(e.event_id for e in events)


def _reader(url: str, done: threading.Event, seen: list[RecordedEvent]) -> None:
    position = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            finished = done.is_set()
            page = queries.read_all(conn, position, limit=7)
            seen.extend(page)
            if page:
                position = page[-1].global_position
            elif finished:
                return


def test_reader_sees_every_committed_event_once_in_stream_order(migrated_url: str) -> None:
    committed: list[uuid.UUID] = []
    seen: list[RecordedEvent] = []
    lock, done = threading.Lock(), threading.Event()
    writers = [
        threading.Thread(target=_writer, args=(migrated_url, seed, committed, lock))
        for seed in range(WRITERS)
    ]
    reader = threading.Thread(target=_reader, args=(migrated_url, done, seen))
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join(timeout=60)

    seen_ids = [event.event_id for event in seen]
    assert len(committed) > WRITERS * TRANSACTIONS_PER_WRITER  # enough traffic to mean something
    assert len(seen_ids) == len(set(seen_ids)), "an event was delivered twice"
    missing, unexpected = set(committed) - set(seen_ids), set(seen_ids) - set(committed)
    assert set(seen_ids) == set(committed), f"missing {len(missing)}, unexpected {len(unexpected)}"
    versions: dict[str, list[int]] = defaultdict(list)
    for event in seen:
        versions[event.stream_id].append(event.stream_version)
    for stream, stream_versions in versions.items():
        assert stream_versions == list(range(1, len(stream_versions) + 1)), stream
    positions = [event.global_position for event in seen]
    assert positions == sorted(positions)


def test_rolled_back_positions_leave_gaps_that_readers_pass(migrated_url: str) -> None:
    with psycopg.connect(migrated_url) as conn:
        append.append_events(conn, "gap-a", [NewEvent("Tick", {})], ANY, 1 << 20)
        conn.rollback()
        append.append_events(conn, "gap-a", [NewEvent("Tick", {})], ANY, 1 << 20)
        conn.commit()
        rows: list[Any] = queries.read_all(conn, 0)

    assert [(e.global_position, e.stream_version) for e in rows] == [(2, 1)]
