"""An aggregate for CLI tests: `store snapshot --aggregate tests.e2e.sample_aggregates:Tally`."""

from tuskflow.eventstore import Aggregate
from tuskflow.eventstore.records import JsonObject


class Tally(Aggregate):
    """Sums the ``n`` of every event."""

    def __init__(self, stream_id: str) -> None:
        super().__init__(stream_id)
        self.total = 0

    def apply(self, event_type: str, data: JsonObject) -> None:
        self.total += int(data.get("n", 0))

    def snapshot_state(self) -> JsonObject:
        return {"total": self.total}

    def restore(self, state: JsonObject) -> None:
        self.total = int(state["total"])


class Count(Aggregate):
    """Counts events, and takes no snapshots."""

    def __init__(self, stream_id: str) -> None:
        super().__init__(stream_id)
        self.events = 0

    def apply(self, event_type: str, data: JsonObject) -> None:
        self.events += 1
