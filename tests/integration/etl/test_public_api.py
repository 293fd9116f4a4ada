"""`import tuskflow` is the public API: the producer calls and the event-store types, loaded on
first use; an unknown job id is a clear error everywhere."""

import pytest

import tuskflow
from tests.integration.etl.conftest import Services
from tests.loaded_modules import packages_loaded
from tuskflow.scheduler import submit


def test_every_public_name_is_importable_from_tuskflow() -> None:
    missing = [name for name in tuskflow.__all__ if getattr(tuskflow, name, None) is None]

    assert missing == []
    assert tuskflow.submit is submit
    assert {"submit", "wait", "status", "cancel", "retry", "history"} <= set(tuskflow.__all__)


def test_importing_tuskflow_loads_neither_celery_nor_the_etl_engine() -> None:
    loaded = packages_loaded("import tuskflow", ["celery", "dask", "pyarrow"])

    assert loaded == []


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'sumbit'"):
        tuskflow.sumbit  # noqa: B018


@pytest.mark.parametrize("call", ["status", "wait", "history", "cancel", "retry"])
def test_an_unknown_job_id_raises_unknown_job_error(services: Services, call: str) -> None:
    with pytest.raises(tuskflow.UnknownJobError, match="no job no-such-job"):
        getattr(tuskflow, call)("no-such-job")
