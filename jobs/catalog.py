"""What tuskflow itself keeps in the event store, by name: the projections `tuskflow store
replay` rebuilds, and the aggregate of each stream category `tuskflow store snapshot` takes."""

from tuskflow.eventstore.aggregate import Aggregate
from tuskflow.eventstore.projections import Projection, builtin_projections
from tuskflow.jobs.job import STREAM_PREFIX, Job
from tuskflow.jobs.projection import JobsProjection


def projections() -> dict[str, Projection]:
    """Every projection tuskflow ships, by name: the event store's own and the jobs list."""
    return {**builtin_projections(), JobsProjection.name: JobsProjection()}


def aggregates() -> dict[str, type[Aggregate]]:
    """The aggregate class of each stream category (a stream-id prefix) tuskflow writes."""
    return {STREAM_PREFIX: Job}


def aggregate_of(stream_id: str) -> type[Aggregate] | None:
    """The aggregate class of the stream's category; None for a stream tuskflow did not write."""
    for category, aggregate in aggregates().items():
        if stream_id.startswith(category):
            return aggregate
    return None
