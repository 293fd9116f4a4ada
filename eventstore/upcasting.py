"""Upcasting: events stored under an older schema are read as the current one.

An event's schema version travels in ``metadata["schema_version"]`` (1 when absent). Each
registered step turns one version of an event type into the next; reading applies the steps
in order until the event is current. Stored events never change.
"""

from collections.abc import Callable
from dataclasses import replace

from tuskflow.eventstore.records import JsonObject, RecordedEvent

SCHEMA_KEY = "schema_version"
Step = Callable[[JsonObject], JsonObject]


class Upcaster:
    """Steps from version N to N+1 per event type."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Step] = {}

    def register(self, event_type: str, from_version: int, step: Step) -> None:
        """Add the step that turns ``event_type`` data of ``from_version`` into the next."""
        key = (event_type, from_version)
        if key in self._steps:
            raise ValueError(f"{event_type} already has a step from version {from_version}")
        self._steps[key] = step

    def current_version(self, event_type: str) -> int:
        """The version an event type is read as."""
        versions = [version for kind, version in self._steps if kind == event_type]
        return max(versions) + 1 if versions else 1

    def upcast(self, event: RecordedEvent) -> RecordedEvent:
        """The event with its data in the current schema of its type."""
        version = int(event.metadata.get(SCHEMA_KEY, 1))
        data = event.data
        while (step := self._steps.get((event.event_type, version))) is not None:
            data = step(data)
            version += 1
        if data is event.data:
            return event
        return replace(event, data=data, metadata={**event.metadata, SCHEMA_KEY: version})
