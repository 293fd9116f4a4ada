"""The snapshot policies a run follows: the job aggregate's, and those the settings register."""

import pytest

from tuskflow.config import load_settings
from tuskflow.config.errors import ConfigError
from tuskflow.jobs import catalog
from tuskflow.jobs.history import SNAPSHOT_EVERY
from tuskflow.jobs.job import Job

TALLY = "tests.e2e.sample_aggregates:Tally"


def test_the_job_aggregate_is_registered_and_settings_add_their_own() -> None:
    settings = load_settings(
        snapshot_aggregates={
            "tally-": {"aggregate": TALLY, "every": 5},
            "job-": {"aggregate": "tuskflow.jobs.job:Job", "every": 20},
        }
    )
    policies = {
        p.category: (p.aggregate.__name__, p.every) for p in catalog.snapshot_policies(settings)
    }
    assert policies == {"job-": ("Job", 20), "tally-": ("Tally", 5)}
    assert catalog.snapshot_policies(load_settings())[0].aggregate is Job
    assert catalog.snapshot_policies(load_settings())[0].every == SNAPSHOT_EVERY


@pytest.mark.parametrize(
    ("aggregate", "message"),
    [
        ("tests.e2e.sample_aggregates:Nope", "cannot load aggregate"),
        ("tests.e2e.sample_aggregates:Count", "Count does not take snapshots"),
        ("tuskflow.jobs.catalog:aggregates", "is not an eventstore Aggregate"),
    ],
)
def test_a_registered_aggregate_that_cannot_snapshot_is_refused_by_its_setting(
    aggregate: str, message: str
) -> None:
    settings = load_settings(snapshot_aggregates={"x-": {"aggregate": aggregate}})
    with pytest.raises(ConfigError, match=message) as refused:
        catalog.snapshot_policies(settings)
    assert str(refused.value).startswith("TUSKFLOW_SNAPSHOT_AGGREGATES['x-']: ")
