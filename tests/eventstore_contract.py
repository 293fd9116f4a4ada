"""The event store contract: one suite, subclassed once per implementation.

A subclass provides a ``store`` fixture returning an empty store.
"""

import math
import random
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest

from tuskflow.eventstore import (
    ANY,
    NO_STREAM,
    Appended,
    DuplicateEventError,
    EventStore,
    InvalidEventError,
    NewEvent,
    Rejected,
    Snapshot,
    StreamEvent,
    VersionConflictError,
)
from tuskflow.eventstore.batch_store import BatchStore
from tuskflow.eventstore.errors import FencedError, RejectedEventsError
from tuskflow.eventstore.records import (
    DeadLetter,
    LetterFilter,
    LetterOrigin,
    OffsetAdvance,
    RecordedEvent,
    SourceProgress,
)
from tuskflow.eventstore.validation import PreparedEvent, prepare


class Store(EventStore, BatchStore, Protocol):
    """Both ports, as both implementations offer them."""


def _events(n: int, kind: str = "Counted") -> list[NewEvent]:
    return [NewEvent(kind, {"n": i}) for i in range(n)]


def _prepared(stream_id: str, n: int) -> list[PreparedEvent]:
    return [prepare(stream_id, NewEvent("Read", {"i": i}), 4096) for i in range(n)]


def _origin(offset: int) -> LetterOrigin:
    coordinates = {"topic": "t", "partition": 0, "offset": offset}
    return LetterOrigin("kafka", f"kafka:t/0/{offset}", b"{}", b"k", {}, coordinates)


def _letter(offset: int, reason: str = "not JSON") -> DeadLetter:
    return _origin(offset).letter(reason)


def _progress(*advances: tuple[int, int | None, int], group: str = "g") -> SourceProgress:
    return SourceProgress(group, tuple(OffsetAdvance("t", p, e, n) for p, e, n in advances))


class EventStoreContract:
    """Behaviour every EventStore implementation must show."""

    # Appends

    def test_new_stream_gets_versions_from_one_in_order(self, store: EventStore) -> None:
        appended = store.append("order-1", _events(3), NO_STREAM)

        assert [a.stream_version for a in appended] == [1, 2, 3]
        positions = [a.global_position for a in appended]
        assert positions == sorted(positions)
        assert len(set(positions)) == 3
        assert store.stream_version("order-1") == 3

    def test_expected_version_must_match_the_stream(self, store: EventStore) -> None:
        store.append("order-1", _events(2), NO_STREAM)

        appended = store.append("order-1", _events(1), 2)

        assert appended[0].stream_version == 3

    def test_stale_expected_version_is_a_conflict_naming_stream_expected_and_actual(
        self, store: EventStore
    ) -> None:
        store.append("order-1", _events(2), NO_STREAM)

        with pytest.raises(VersionConflictError) as conflict:
            store.append("order-1", _events(1), 1)

        assert (conflict.value.stream_id, conflict.value.expected, conflict.value.actual) == (
            "order-1",
            "1",
            2,
        )
        assert "'order-1'" in str(conflict.value)
        assert "expected 1, actual 2" in str(conflict.value)

    def test_no_stream_conflicts_with_an_existing_stream(self, store: EventStore) -> None:
        store.append("order-1", _events(1), NO_STREAM)

        with pytest.raises(VersionConflictError, match="expected no stream, actual 1"):
            store.append("order-1", _events(1), NO_STREAM)

    def test_expected_version_of_a_missing_stream_is_a_conflict(self, store: EventStore) -> None:
        with pytest.raises(VersionConflictError, match="expected 4, actual 0"):
            store.append("order-404", _events(1), 4)

    def test_conflict_writes_nothing_and_consumes_no_position(self, store: EventStore) -> None:
        first = store.append("order-1", _events(1), NO_STREAM)
        with pytest.raises(VersionConflictError):
            store.append("order-1", _events(5), 7)

        after = store.append("order-2", _events(1), NO_STREAM)

        assert after[0].global_position == first[0].global_position + 1
        assert store.stream_version("order-1") == 1

    def test_any_appends_whatever_the_version(self, store: EventStore) -> None:
        store.append("order-1", _events(2), ANY)
        appended = store.append("order-1", _events(1), ANY)

        assert appended[0].stream_version == 3

    def test_exact_retry_returns_the_original_positions_and_stores_nothing(
        self, store: EventStore
    ) -> None:
        events = _events(2)
        original = store.append("order-1", events, NO_STREAM)
        head = store.head()

        retried = store.append("order-1", events, NO_STREAM)

        assert [(a.global_position, a.stream_version) for a in retried] == [
            (a.global_position, a.stream_version) for a in original
        ]
        assert all(a.duplicate for a in retried)
        assert store.head() == head

    def test_same_event_id_with_other_content_is_refused(self, store: EventStore) -> None:
        event = NewEvent("Counted", {"n": 1})
        store.append("order-1", [event], NO_STREAM)
        head = store.head()

        with pytest.raises(DuplicateEventError, match="other content"):
            store.append("order-1", [NewEvent("Counted", {"n": 2}, event_id=event.event_id)])
        with pytest.raises(DuplicateEventError):
            store.append("order-2", [event])

        assert store.head() == head

    def test_append_mixing_stored_and_new_event_ids_is_refused(self, store: EventStore) -> None:
        event = NewEvent("Counted", {"n": 1})
        store.append("order-1", [event], NO_STREAM)

        with pytest.raises(DuplicateEventError, match="stored already"):
            store.append("order-1", [event, NewEvent("Counted", {"n": 2})])

        assert store.stream_version("order-1") == 1

    # Bad input: a clear error, nothing written

    @pytest.mark.parametrize(
        ("stream_id", "events", "expected", "message"),
        [
            ("", _events(1), ANY, "stream id must be a non-empty string"),
            ("  ", _events(1), ANY, "stream id must be a non-empty string"),
            (" order-1", _events(1), ANY, "surrounding whitespace"),
            ("order-1", [], ANY, "has no events"),
            ("order-1", _events(1), "latest", "unknown expected version 'latest'"),
            ("order-1", _events(1), -1, "unknown expected version -1"),
            ("order-1", _events(1), 1.5, "unknown expected version 1.5"),
            ("order-1", _events(1), True, "unknown expected version True"),
            ("order-1", [NewEvent("Counted", {"at": {1, 2}})], ANY, "not JSON-serialisable"),
            ("order-1", [NewEvent("Counted", {"x": object()})], ANY, "not JSON-serialisable"),
            ("order-1", [NewEvent("Counted", {"x": math.nan})], ANY, "not JSON-serialisable"),
            ("order-1", [NewEvent("Counted", ["not", "an", "object"])], ANY, "JSON object"),  # type: ignore[arg-type]
            ("order-1", [NewEvent("", {})], ANY, "has no event type"),
            ("order-1", [NewEvent("Noted", {"text": "a\x00b"})], ANY, "NUL character"),
            ("order-1", [NewEvent("Noted", {"k\x00": 1})], ANY, "NUL character"),
            ("order-1", [NewEvent("Noted", {"text": "\ud800"})], ANY, "lone surrogate"),
            ("order-1", [NewEvent("Counted", {"blob": "x" * 5000})], ANY, "over the 4096-byte"),
        ],
    )
    def test_bad_input_is_refused_clearly_and_writes_nothing(
        self, store: EventStore, stream_id: str, events: list[NewEvent], expected: Any, message: str
    ) -> None:
        store.append("other", _events(1))
        head = store.head()

        with pytest.raises(InvalidEventError, match=message):
            store.append(stream_id, [*_events(1), *events] if events else [], expected)

        assert store.head() == head
        assert store.stream_version("order-1") == 0

    def test_bad_item_refuses_the_whole_batch(self, store: EventStore) -> None:
        items = [StreamEvent(f"s-{i}", NewEvent("Counted", {"n": i})) for i in range(3)]
        items.append(StreamEvent("", NewEvent("Counted", {})))

        with pytest.raises(InvalidEventError, match="stream id"):
            store.append_batch(items)

        assert store.head() == 0

    # Batches

    def test_batch_spreads_over_streams_with_versions_in_batch_order(
        self, store: EventStore
    ) -> None:
        store.append("meter-0", _events(2))
        items = [StreamEvent(f"meter-{i % 3}", NewEvent("Read", {"i": i})) for i in range(9)]

        result = store.append_batch(items)

        assert len(result.new) == 9
        assert [a.global_position for a in result.new] == sorted(
            a.global_position for a in result.new
        )
        assert [e.data["i"] for e in store.read_stream("meter-0", 3)] == [0, 3, 6]
        assert [e.stream_version for e in store.read_stream("meter-0")] == [1, 2, 3, 4, 5]
        assert store.stream_version("meter-1") == 3

    def test_batch_keeps_backslashes_tabs_and_line_breaks_exactly(self, store: EventStore) -> None:
        awkward = "a\\b\tc\nd\re \\n"
        items = [
            StreamEvent(f"s{awkward}", NewEvent(f"T{awkward}", {awkward: awkward}, {"m": awkward}))
        ]

        store.append_batch(items)

        [stored] = store.read_stream(f"s{awkward}")
        assert (stored.event_type, stored.data, stored.metadata) == (
            f"T{awkward}",
            {awkward: awkward},
            {"m": awkward},
        )

    def test_empty_batch_writes_nothing(self, store: EventStore) -> None:
        assert store.append_batch([]).items == ()
        assert store.head() == 0

    def test_redelivered_batch_is_all_duplicates_at_the_original_positions(
        self, store: EventStore
    ) -> None:
        items = [StreamEvent(f"meter-{i % 2}", NewEvent("Read", {"i": i})) for i in range(6)]
        first = store.append_batch(items)
        head = store.head()

        again = store.append_batch(items)

        assert again.new == []
        assert [(a.global_position, a.stream_version) for a in again.duplicates] == [
            (a.global_position, a.stream_version) for a in first.new
        ]
        assert store.head() == head

    def test_batch_mixing_stored_repeated_new_and_conflicting_items(
        self, store: EventStore
    ) -> None:
        stored = NewEvent("Read", {"i": 0})
        store.append_batch([StreamEvent("meter-0", stored)])
        fresh = NewEvent("Read", {"i": 1})
        clash = NewEvent("Read", {"i": 99}, event_id=stored.event_id)
        items = [
            StreamEvent("meter-0", stored),
            StreamEvent("meter-1", fresh),
            StreamEvent("meter-1", fresh),
            StreamEvent("meter-0", clash),
        ]

        result = store.append_batch(items)

        duplicate, new, repeat, rejected = result.items
        assert not isinstance(duplicate, Rejected)
        assert duplicate.duplicate
        assert not isinstance(new, Rejected)
        assert not new.duplicate
        assert not isinstance(repeat, Rejected)
        assert repeat.duplicate
        assert repeat.global_position == new.global_position
        assert isinstance(rejected, Rejected)
        assert "other content" in rejected.reason
        assert store.stream_version("meter-0") == 1
        assert store.stream_version("meter-1") == 1

    # Reads

    def test_stream_reads_forwards_backwards_and_bounded(self, store: EventStore) -> None:
        store.append("order-1", _events(5))
        store.append("order-2", _events(1))

        forwards = store.read_stream("order-1", 2, limit=2)
        backwards = store.read_stream("order-1", 4, backwards=True)

        assert [e.stream_version for e in forwards] == [2, 3]
        assert [e.stream_version for e in backwards] == [4, 3, 2, 1]
        assert store.read_stream("missing") == []

    def test_stream_as_of_a_position_or_a_time(self, store: EventStore) -> None:
        first = store.append("order-1", _events(2))
        store.append("order-1", _events(2))

        as_of = store.read_stream("order-1", to_position=first[-1].global_position)
        at_epoch = store.read_stream("order-1", until=datetime(2000, 1, 1, tzinfo=UTC))
        by_now = store.read_stream("order-1", until=datetime.now(UTC) + timedelta(seconds=5))

        assert [e.stream_version for e in as_of] == [1, 2]
        assert at_epoch == []
        assert len(by_now) == 4

    def test_all_events_in_global_order_in_pages_and_filtered(self, store: EventStore) -> None:
        store.append("order-1", _events(2, "Placed"))
        store.append("invoice-1", _events(2, "Billed"))
        store.append("order-2", _events(1, "Shipped"))

        everything = store.read_all()
        page = store.read_all(everything[1].global_position, limit=2)
        billed = store.read_all(event_types=["Billed"])
        orders = store.read_all(category="order-")

        assert [e.global_position for e in everything] == sorted(
            e.global_position for e in everything
        )
        assert len(everything) == 5
        assert page == everything[2:4]
        assert {e.event_type for e in billed} == {"Billed"}
        assert len(billed) == 2
        assert [e.stream_id for e in orders] == ["order-1", "order-1", "order-2"]

    def test_recorded_event_carries_what_was_appended(self, store: EventStore) -> None:
        event = NewEvent("Placed", {"total": 12.5, "lines": [1, 2]}, {"source": "test"})
        store.append("order-1", [event])

        [recorded] = store.read_stream("order-1")

        assert recorded.event_id == event.event_id
        assert recorded.event_type == "Placed"
        assert recorded.data == {"total": 12.5, "lines": [1, 2]}
        assert recorded.metadata == {"source": "test"}
        assert recorded.recorded_at.tzinfo is not None

    # Snapshots and checkpoints

    def test_latest_snapshot_wins_over_an_older_one(self, store: EventStore) -> None:
        store.save_snapshot(Snapshot("order-1", 10, {"total": 10}))
        store.save_snapshot(Snapshot("order-1", 5, {"total": 5}))

        kept = store.load_snapshot("order-1")

        assert kept == Snapshot("order-1", 10, {"total": 10})
        assert store.load_snapshot("order-2") is None

    def test_checkpoints_start_at_zero_and_never_move_back(self, store: EventStore) -> None:
        assert store.checkpoint("reports") == 0
        store.save_checkpoint("reports", 40)
        store.save_checkpoint("reports", 12)

        assert store.checkpoint("reports") == 40

    def test_stats_count_events_streams_and_checkpoints(self, store: EventStore) -> None:
        store.append("order-1", _events(2))
        store.append("order-2", _events(1))
        store.save_checkpoint("reports", 2)

        stats = store.stats()

        assert (stats.events, stats.streams, stats.head_position) == (3, 2, store.head())
        assert stats.checkpoints == {"reports": 2}

    # Bounded reads

    def test_all_events_up_to_a_position(self, store: Store) -> None:
        appended = store.append("order-1", _events(5))

        bounded = store.read_all(
            appended[0].global_position, to_position=appended[2].global_position
        )

        assert [e.stream_version for e in bounded] == [2, 3]
        assert store.read_all(to_position=0) == []

    def test_stream_read_forwards_up_to_a_version(self, store: Store) -> None:
        store.append("order-1", _events(6))

        bounded = store.read_stream("order-1", 2, to_version=4)
        limited = store.read_stream("order-1", 2, to_version=5, limit=2)

        assert [e.stream_version for e in bounded] == [2, 3, 4]
        assert [e.stream_version for e in limited] == [2, 3]
        assert store.read_stream("order-1", 5, to_version=4) == []

    # Multi-stream appends

    def test_multi_stream_append_stores_every_stream_at_its_expected_version(
        self, store: Store
    ) -> None:
        store.append("order-1", _events(2))

        appended = store.append_streams(
            {
                "order-1": (2, _events(1)),
                "invoice-1": (NO_STREAM, _events(2)),
                "log": (ANY, _events(1)),
            }
        )

        assert [a.stream_version for a in appended["order-1"]] == [3]
        assert [a.stream_version for a in appended["invoice-1"]] == [1, 2]
        positions = [a.global_position for part in appended.values() for a in part]
        assert len(set(positions)) == 4
        assert store.stream_version("log") == 1

    def test_multi_stream_conflict_on_one_stream_stores_nothing_and_consumes_no_position(
        self, store: Store
    ) -> None:
        first = store.append("order-1", _events(1))

        with pytest.raises(VersionConflictError) as conflict:
            store.append_streams({"invoice-1": (NO_STREAM, _events(2)), "order-1": (5, _events(1))})

        after = store.append("other", _events(1))
        assert (conflict.value.stream_id, conflict.value.actual) == ("order-1", 1)
        assert store.stream_version("invoice-1") == 0
        assert after[0].global_position == first[0].global_position + 1

    def test_exact_multi_stream_retry_returns_the_original_positions_with_stale_versions(
        self, store: Store
    ) -> None:
        request: dict[str, tuple[Any, Sequence[NewEvent]]] = {
            "order-1": (NO_STREAM, _events(2)),
            "invoice-1": (NO_STREAM, _events(1)),
        }
        original = store.append_streams(request)
        head = store.head()

        retried = store.append_streams(request)  # the versions it expects are stale now

        assert {
            s: [(a.global_position, a.duplicate) for a in part] for s, part in retried.items()
        } == {s: [(a.global_position, True) for a in part] for s, part in original.items()}
        assert store.head() == head

    def test_multi_stream_append_mixing_stored_and_new_event_ids_is_refused(
        self, store: Store
    ) -> None:
        stored = _events(1)
        store.append("order-1", stored)

        with pytest.raises(DuplicateEventError):
            store.append_streams({"order-1": (ANY, stored), "invoice-1": (ANY, _events(1))})
        with pytest.raises(InvalidEventError, match="repeats an event_id across"):
            store.append_streams({"a": (ANY, stored), "b": (ANY, stored)})

        assert store.stream_version("invoice-1") == 0

    def test_concurrent_multi_stream_appends_never_deadlock_and_leave_no_position_unused(
        self, store: Store
    ) -> None:
        streams = [f"account-{i}" for i in range(4)]
        writers = _MultiStreamWriters(store, streams)

        writers.run(threads=3, transactions=100)

        appended, conflicts = writers.appended, writers.conflicts
        events = _read_everything(store)
        assert writers.failures == []
        assert [e.global_position for e in events] == list(range(1, len(events) + 1))
        for stream in streams:
            versions = [e.stream_version for e in events if e.stream_id == stream]
            assert versions == list(range(1, len(versions) + 1))
        assert len(events) == len(appended)
        assert sorted(a.global_position for a in appended) == [e.global_position for e in events]
        assert all(c.stream_id in streams for c in conflicts)

    # The batch port: progress, dead letters and events in one transaction

    def test_batch_with_its_dead_letters_and_progress_commits_together(self, store: Store) -> None:
        batch = store.prepare(_prepared("meter-1", 3), [_origin(i) for i in range(3)])

        written = store.write_batch(batch, [_letter(3)], _progress((0, None, 4)))

        assert (written.new, written.duplicates, written.rejected, written.dead_letters) == (
            3,
            0,
            0,
            1,
        )
        assert store.stream_version("meter-1") == 3
        assert [d.letter.source_key for d in store.dead_letters()] == ["kafka:t/0/3"]
        assert store.load_progress("g", [("t", 0), ("t", 1)]) == {("t", 0): 4}

    def test_fenced_progress_write_stores_nothing(self, store: Store) -> None:
        store.write_batch(store.prepare([]), [], _progress((0, None, 10)))
        head = store.head()

        with pytest.raises(FencedError):
            store.write_batch(
                store.prepare(_prepared("meter-1", 2)), [_letter(11)], _progress((0, 5, 12))
            )

        assert store.head() == head
        assert store.stream_version("meter-1") == 0
        assert store.dead_letters() == []
        assert store.load_progress("g", [("t", 0)]) == {("t", 0): 10}

    def test_consumer_that_lost_its_partition_cannot_move_the_offset(self, store: Store) -> None:
        empty = store.prepare([])
        store.write_batch(empty, [], _progress((0, None, 100)))
        store.write_batch(empty, [], _progress((0, 100, 250)))  # the newer owner

        with pytest.raises(FencedError):
            store.write_batch(empty, [], _progress((0, 100, 180)))  # the stale owner
        with pytest.raises(FencedError):
            store.write_batch(empty, [], _progress((0, None, 50)))  # a late first write

        assert store.load_progress("g", [("t", 0)]) == {("t", 0): 250}

    def test_batch_over_many_partitions_is_fenced_when_any_one_of_them_moved(
        self, store: Store
    ) -> None:
        empty = store.prepare([])
        store.write_batch(empty, [], _progress(*[(p, None, 10) for p in range(3)]))
        store.write_batch(empty, [], _progress((1, None, 99), group="other-group"))
        store.write_batch(empty, [], _progress((1, 10, 40)))  # a newer owner of partition 1

        with pytest.raises(FencedError):
            store.write_batch(empty, [], _progress(*[(p, 10, 20) for p in range(3)]))

        stored = store.load_progress("g", [("t", p) for p in range(3)])
        assert stored == {("t", 0): 10, ("t", 1): 40, ("t", 2): 10}

    def test_rejected_batch_items_become_dead_letters_with_the_store_reason(
        self, store: Store
    ) -> None:
        stored = NewEvent("Read", {"i": 0})
        store.append("meter-1", [stored])
        clash = prepare("meter-1", NewEvent("Read", {"i": 9}, event_id=stored.event_id), 4096)
        fresh = prepare("meter-1", NewEvent("Read", {"i": 1}), 4096)

        written = store.write_batch(store.prepare([clash, fresh], [_origin(7), _origin(8)]))

        assert (written.new, written.rejected, written.dead_letters) == (1, 1, 1)
        [letter] = store.dead_letters()
        assert letter.letter.source_key == "kafka:t/0/7"
        assert "other content" in letter.letter.reason
        assert letter.letter.raw_payload == b"{}"

    def test_a_dead_letter_written_again_counts_an_attempt(self, store: Store) -> None:
        store.write_batch(store.prepare([]), [_letter(1, "first")])
        store.write_batch(store.prepare([]), [_letter(1, "second")])

        [letter] = store.dead_letters()

        assert (letter.attempts, letter.letter.reason) == (2, "second")
        assert store.stats().dead_letters == 1

    def test_replaying_a_dead_letter_appends_its_event_and_marks_it(self, store: Store) -> None:
        store.write_batch(store.prepare([]), [_letter(1)])
        [open_letter] = store.dead_letters()
        [event] = _prepared("meter-1", 1)

        item = store.replay_dead_letter(open_letter.id, event, _origin(1))

        assert isinstance(item, Appended)
        assert store.dead_letters() == []
        [replayed] = store.dead_letters(include_replayed=True)
        assert replayed.replayed_position == item.global_position

    def test_dead_letters_chosen_by_source_origin_partition_reason_and_time(
        self, store: Store
    ) -> None:
        kafka = [
            LetterOrigin("kafka", f"kafka:{topic}/{part}/{off}", b"x", None, {}, {
                "topic": topic, "partition": part, "offset": off,
            }).letter(reason)
            for topic, part, off, reason in [
                ("t", 0, 1, "payload is not JSON"),
                ("t", 1, 2, "missing event type"),
                ("u", 1, 3, "Missing Event Type"),
            ]
        ]  # fmt: skip
        redis = LetterOrigin(
            "redis", "redis:t/1-0", b"x", None, {}, {"stream": "t", "entry_id": "1-0"}
        ).letter("missing event type")
        store.write_batch(store.prepare([]), [*kafka, redis])
        hour_ago = datetime.now(UTC) - timedelta(hours=1)

        def chosen(**given: Any) -> list[str]:
            return [s.letter.source_key for s in store.dead_letters(matching=LetterFilter(**given))]

        assert chosen(origin="t") == ["kafka:t/0/1", "kafka:t/1/2", "redis:t/1-0"]
        assert chosen(source="kafka", partition=1) == ["kafka:t/1/2", "kafka:u/1/3"]
        assert chosen(reason="EVENT type", origin="t") == ["kafka:t/1/2", "redis:t/1-0"]
        assert chosen(since=hour_ago, source="redis") == ["redis:t/1-0"]
        assert chosen(until=hour_ago) == []
        assert chosen(reason="100%_") == []  # matched as text, not as a LIKE pattern

    def test_batches_appended_all_or_nothing(self, store: Store) -> None:
        stored = NewEvent("Read", {"i": 0})
        store.append("meter-1", [stored])
        clash = prepare("meter-1", NewEvent("Read", {"i": 9}, event_id=stored.event_id), 4096)
        head = store.head()

        new = store.append_batches([store.prepare(_prepared("meter-2", 2))])
        with pytest.raises(RejectedEventsError) as refused:
            store.append_batches([store.prepare(_prepared("meter-3", 2)), store.prepare([clash])])

        assert new == 2
        assert [r.event_id for r in refused.value.rejected] == [stored.event_id]
        assert store.head() == head + 2
        assert store.stream_version("meter-3") == 0

    def test_concurrent_batch_writers_and_a_paging_reader_see_every_event_once_in_order(
        self, store: Store
    ) -> None:
        writers, batches, size = 3, 15, 4
        done = threading.Event()
        seen: list[RecordedEvent] = []

        def write(n: int) -> None:
            for b in range(batches):
                store.write_batch(store.prepare(_prepared(f"w{n}-{b % 3}", size)))

        def read() -> None:
            after = 0
            while not done.is_set() or store.head() > after:
                page = store.read_all(after, limit=7)
                seen.extend(page)
                after = page[-1].global_position if page else after

        reader = threading.Thread(target=read)
        threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
        reader.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        done.set()
        reader.join()

        positions = [e.global_position for e in seen]
        assert len(seen) == writers * batches * size
        assert positions == sorted(set(positions))
        assert [e.event_id for e in seen] == [e.event_id for e in _read_everything(store)]


class _MultiStreamWriters:
    """Threads appending to 2-3 of ``streams`` at once, each at the versions it last read."""

    def __init__(self, store: Store, streams: list[str]) -> None:
        self.store, self.streams = store, streams
        self.appended: list[Appended] = []
        self.conflicts: list[VersionConflictError] = []
        self.failures: list[BaseException] = []
        self._lock = threading.Lock()

    def run(self, *, threads: int, transactions: int) -> None:
        """Run the writers to the end."""
        running = [
            threading.Thread(target=self._write, args=(seed, transactions))
            for seed in range(threads)
        ]
        for thread in running:
            thread.start()
        for thread in running:
            thread.join()

    def _write(self, seed: int, transactions: int) -> None:
        rng = random.Random(seed)
        for _ in range(transactions):
            chosen = rng.sample(self.streams, rng.randint(2, 3))
            versions = {s: self.store.stream_version(s) for s in chosen}
            request = {s: (v or NO_STREAM, _events(1)) for s, v in versions.items()}
            try:
                stored = self.store.append_streams(request)
            except VersionConflictError as exc:
                with self._lock:
                    self.conflicts.append(exc)
            except BaseException as exc:  # a deadlock, or anything else: a failure
                with self._lock:
                    self.failures.append(exc)
            else:
                with self._lock:
                    self.appended.extend(a for part in stored.values() for a in part)


def _read_everything(store: EventStore) -> list[RecordedEvent]:
    events: list[RecordedEvent] = []
    while page := store.read_all(events[-1].global_position if events else 0, limit=500):
        events.extend(page)
    return events


def unique_stream(prefix: str = "s") -> str:
    """A stream id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
