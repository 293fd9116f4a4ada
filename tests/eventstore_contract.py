"""The event store contract: one suite, subclassed once per implementation.

A subclass provides a ``store`` fixture returning an empty store.
"""

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tuskflow.eventstore import (
    ANY,
    NO_STREAM,
    DuplicateEventError,
    EventStore,
    InvalidEventError,
    NewEvent,
    Rejected,
    Snapshot,
    StreamEvent,
    VersionConflictError,
)


def _events(n: int, kind: str = "Counted") -> list[NewEvent]:
    return [NewEvent(kind, {"n": i}) for i in range(n)]


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


def unique_stream(prefix: str = "s") -> str:
    """A stream id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
