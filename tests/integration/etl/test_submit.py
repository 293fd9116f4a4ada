"""Submitting a job through scheduler.submit against real PostgreSQL and Redis.

An invalid spec is refused with a SpecError naming the path in the spec and the problem, and
leaves no trace: no message on the broker, no event in the store. A valid one is recorded as
JobSubmitted and enqueued once on the ``etl`` queue.
"""

import base64
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.etl.conftest import Services
from tuskflow.config.celery import ETL_QUEUE, RUN_JOB_TASK
from tuskflow.etl.errors import SpecError
from tuskflow.eventstore.postgres.store import PostgresEventStore
from tuskflow.jobs.job import stream_of
from tuskflow.scheduler import submit


def spec(folder: Path, **changes: Any) -> dict[str, Any]:
    """A valid spec over the folder's sales.csv, with ``changes`` to its top-level keys."""
    return {
        "version": 1,
        "name": "sales by region",
        "source": {"format": "csv", "path": str(folder / "sales.csv")},
        "transforms": [],
        "sink": {"kind": "csv", "path": str(folder / "out.csv")},
        **changes,
    }


def events_recorded(database_url: str) -> int:
    """How many events the store holds, in any stream."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    assert row is not None
    return int(row[0])


def assert_nothing_enqueued_or_recorded(services: Services) -> None:
    """No message on the etl queue (nor anything else in Redis), no event in the store."""
    assert services.broker.llen(ETL_QUEUE) == 0
    assert services.broker.keys("*") == []
    assert events_recorded(services.database_url) == 0


def refused(document: dict[str, Any]) -> str:
    """Submit a spec that must be refused; the refusal's message."""
    with pytest.raises(SpecError) as caught:
        submit(document)
    return str(caught.value)


def test_spec_naming_an_unknown_column_is_refused_by_path_and_nothing_is_enqueued(
    services: Services,
) -> None:
    transforms = [{"op": "filter", "where": "amount > 0"}]

    message = refused(spec(services.folder, transforms=transforms))

    assert "transforms[0].where: unknown column 'amount'" in message
    assert "available: region, quantity, price" in message
    assert_nothing_enqueued_or_recorded(services)


def test_expression_that_does_not_parse_is_refused_by_path_and_nothing_is_enqueued(
    services: Services,
) -> None:
    transforms = [{"op": "derive", "column": "revenue", "expr": "quantity * (price"}]

    message = refused(spec(services.folder, transforms=transforms))

    assert "transforms[0].expr: Expecting ) near 'price' at 12" in message
    assert "'quantity * (price'" in message
    assert_nothing_enqueued_or_recorded(services)


@pytest.mark.parametrize(
    ("transforms", "problem"),
    [
        (
            [
                {
                    "op": "aggregate",
                    "by": ["quantity"],
                    "aggregations": {"total": {"fn": "sum", "column": "region"}},
                }
            ],
            "transforms[0].aggregations.total.column: sum needs a numeric column;"
            " 'region' is string",
        ),
        (
            [{"op": "filter", "where": "quantity + price"}],
            "transforms[0].where: a filter needs a bool expression; 'quantity + price' is float",
        ),
    ],
    ids=["sum-over-a-string", "filter-not-boolean"],
)
def test_spec_with_a_wrong_type_is_refused_by_path_and_nothing_is_enqueued(
    services: Services, transforms: list[dict[str, Any]], problem: str
) -> None:
    message = refused(spec(services.folder, transforms=transforms))

    assert problem in message
    assert_nothing_enqueued_or_recorded(services)


def test_spec_whose_source_file_is_missing_is_refused_by_path_and_nothing_is_enqueued(
    services: Services,
) -> None:
    missing = services.folder / "nowhere.csv"
    source = {"format": "csv", "path": str(missing)}

    message = refused(spec(services.folder, source=source))

    assert f"source.path: the csv source '{missing}' does not exist" in message
    assert_nothing_enqueued_or_recorded(services)


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/proc/tuskflow-out/out.csv", "No such file or directory when making a folder in /proc"),
        ("{folder}/sales.csv/out.csv", "{folder}/sales.csv is a file, not a folder"),
        ("/sys/out.csv", "Operation not permitted when making a folder in /sys"),
    ],
    ids=["under-proc", "under-a-file", "under-sys"],
)
def test_a_sink_path_that_cannot_be_written_is_refused_at_submit_naming_the_path_given(
    services: Services, path: str, problem: str
) -> None:
    given = path.format(folder=services.folder)
    sink = {"kind": "csv", "path": given}

    message = refused(spec(services.folder, sink=sink))

    assert f"sink.path: cannot write {given!r}: " in message
    assert problem.format(folder=services.folder) in message
    assert ".tuskflow" not in message  # never the staging folder, which the user did not name
    assert_nothing_enqueued_or_recorded(services)


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("__import__('os').system('touch {marker}')", "attribute access is not part of"),
        ("__import__('os')", "unknown function '__import__'"),
    ],
    ids=["attribute-access", "builtin-call"],
)
def test_unsafe_expression_is_refused_unrun_by_path_and_nothing_is_enqueued(
    services: Services, template: str, problem: str
) -> None:
    marker = services.folder / "pwned"
    expr = template.format(marker=marker)
    transforms = [{"op": "derive", "column": "x", "expr": expr}]

    message = refused(spec(services.folder, transforms=transforms))

    assert f"transforms[0].expr: {problem}" in message
    assert not marker.exists()
    assert_nothing_enqueued_or_recorded(services)


def test_valid_spec_is_recorded_as_submitted_and_enqueued_once_on_the_etl_queue(
    services: Services,
) -> None:
    job_id = submit(spec(services.folder))

    with PostgresEventStore(services.database_url, pool_size=1) as store:
        events = store.read_stream(stream_of(job_id))
    assert [event.event_type for event in events] == ["JobSubmitted"]
    assert events_recorded(services.database_url) == 1
    assert services.broker.llen(ETL_QUEUE) == 1
    message = json.loads(services.broker.lindex(ETL_QUEUE, 0) or b"{}")
    assert (message["headers"]["task"], message["headers"]["id"]) == (RUN_JOB_TASK, job_id)
    assert message["content-type"] == "application/json"
    args = json.loads(base64.b64decode(message["body"]))[0]
    assert args == [job_id]
