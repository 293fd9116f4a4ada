"""What tuskflow keeps in the event store, by name: the projections `tuskflow store replay`
rebuilds, the aggregate of each stream category `tuskflow store snapshot` takes, and the
snapshot policies of snapshot runs (tuskflow's own, and those TUSKFLOW_SNAPSHOT_AGGREGATES adds)."""

import importlib

from tuskflow.config.errors import ConfigError
from tuskflow.config.settings import Settings, env_var
from tuskflow.eventstore.aggregate import Aggregate
from tuskflow.eventstore.projections import Projection, builtin_projections
from tuskflow.eventstore.snapshotting import SnapshotPolicy
from tuskflow.jobs.history import SNAPSHOT_EVERY
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


def snapshot_policies(settings: Settings, category: str | None = None) -> list[SnapshotPolicy]:
    """The snapshot policy of every registered category (or of ``category`` alone): the job
    aggregate's, then the settings' (which may change the job aggregate's ``every``)."""
    policies = {STREAM_PREFIX: SnapshotPolicy(STREAM_PREFIX, Job, SNAPSHOT_EVERY)}
    for prefix, setting in settings.snapshot_aggregates.items():
        where = f"{env_var('snapshot_aggregates')}[{prefix!r}]"
        if not prefix:
            raise ConfigError(f"{where}: a category must not be empty")
        policies[prefix] = SnapshotPolicy(
            prefix, aggregate_class(setting.aggregate, where), setting.every
        )
    if category is None:
        return list(policies.values())
    if category not in policies:
        known = ", ".join(sorted(policies))
        raise ConfigError(
            f"no aggregate is registered for category {category!r} (registered: {known}); "
            f"add it to {env_var('snapshot_aggregates')}"
        )
    return [policies[category]]


def aggregate_class(path: str, where: str = "aggregate") -> type[Aggregate]:
    """The Aggregate subclass at ``module:Class``; ConfigError naming ``where`` otherwise."""
    module_name, _, class_name = path.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"{where}: cannot load aggregate {path!r}: {exc}") from None
    if not (isinstance(found, type) and issubclass(found, Aggregate)):
        raise ConfigError(f"{where}: {path} is not an eventstore Aggregate")
    if found.snapshot_state is Aggregate.snapshot_state or found.restore is Aggregate.restore:
        raise ConfigError(
            f"{where}: {path} does not take snapshots: give it snapshot_state() and restore()"
        )
    return found
