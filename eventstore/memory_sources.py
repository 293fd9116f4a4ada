"""What InMemoryEventStore keeps beside events: source offsets and dead letters.

Not locked itself: the store calls it under its own lock, in the same step as the events.
"""

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from tuskflow.eventstore.records import (
    DeadLetter,
    LetterFilter,
    SourceProgress,
    StoredDeadLetter,
)

Partition = tuple[str, int]


class SourceState:
    """Next offsets per (group, topic, partition) and dead letters by source_key."""

    def __init__(self) -> None:
        self._offsets: dict[tuple[str, str, int], int] = {}
        self._letters: dict[str, StoredDeadLetter] = {}
        self._ids = itertools.count(1)

    def can_advance(self, progress: SourceProgress | None) -> bool:
        """Whether every partition is where the progress expects it (None: not stored yet)."""
        if progress is None:
            return True
        return all(
            self._offsets.get((progress.group, a.topic, a.partition)) == a.expected
            for a in progress.advances
        )

    def advance(self, progress: SourceProgress | None) -> None:
        """Move every partition of a progress that can_advance allowed."""
        if progress is None:
            return
        for a in progress.advances:
            self._offsets[(progress.group, a.topic, a.partition)] = a.next_offset

    def offsets(self, group: str, partitions: Iterable[Partition]) -> dict[Partition, int]:
        """The stored next offsets of these partitions; those never written are absent."""
        found = {p: self._offsets.get((group, *p)) for p in partitions}
        return {p: offset for p, offset in found.items() if offset is not None}

    def record(self, letters: Sequence[DeadLetter]) -> None:
        """Keep dead letters; one kept under the same source_key counts an attempt."""
        now = datetime.now(UTC)
        for letter in letters:
            old = self._letters.get(letter.source_key)
            if old is None:
                stored = StoredDeadLetter(next(self._ids), letter, 1, now, now, None, None)
                self._letters[letter.source_key] = stored
                continue
            # A replayed letter stays replayed: this is only a late re-delivery.
            reason = letter.reason if old.replayed_at is None else old.letter.reason
            self._letters[letter.source_key] = replace(
                old,
                letter=replace(old.letter, reason=reason),
                attempts=old.attempts + 1,
                last_failed_at=now,
            )

    def mark_replayed(self, dead_letter_id: int, position: int) -> None:
        """Record that a dead letter became the event at ``position``."""
        for key, kept in self._letters.items():
            if kept.id == dead_letter_id:
                now = datetime.now(UTC)
                self._letters[key] = replace(kept, replayed_at=now, replayed_position=position)

    def letters(
        self, *, include_replayed: bool, limit: int, after_id: int, matching: LetterFilter
    ) -> list[StoredDeadLetter]:
        """Dead letters in the order they first failed, those ``matching`` only."""
        found = [
            kept
            for kept in self._letters.values()
            if kept.id > after_id
            and (include_replayed or kept.replayed_at is None)
            and matching.matches(kept)
        ]
        return sorted(found, key=lambda s: s.id)[:limit]

    def count(self) -> int:
        """How many dead letters are kept."""
        return len(self._letters)
