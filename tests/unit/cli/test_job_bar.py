"""The progress line of `tuskflow submit --wait` agrees with the summary printed after it."""

import io
from typing import Any

from rich.console import Console
from rich.progress import Progress

from tuskflow.cli.job_view import JobBar


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _state(status: str, done: int, rejected: int, result: dict[str, Any]) -> dict[str, Any]:
    return {
        "job_id": "j1",
        "name": "n",
        "status": status,
        "attempt": 1,
        "worker": "w",
        "partitions_done": done,
        "partitions_total": 2,
        "rows_in": 1000 * done,
        "rejected": rejected,
        "result": result,
        "error": "",
    }


def _line(progress: Progress) -> str:
    out = io.StringIO()
    Console(file=out, width=200).print(progress.make_tasks_table(progress.tasks))
    return out.getvalue()


def _followed(clock: _Clock) -> Progress:
    progress = Progress(*JobBar.columns, get_time=clock, auto_refresh=False, disable=True)
    bar = JobBar(progress)
    bar.show(_state("running", 0, 0, {}))
    clock.now += 1
    bar.show(_state("running", 2, 4, {}))
    clock.now += 5  # the checks after the partitions, then the publish
    bar.show(_state("succeeded", 2, 4, {"rows_in": 2000, "rejected": 3078, "rows_out": 1}))
    clock.now += 60
    return progress


def test_ended_job_shows_its_own_rejected_count_not_the_partitions() -> None:
    assert "3,078 rejected" in _line(_followed(_Clock()))


def test_elapsed_runs_until_the_job_ends_and_then_stops() -> None:
    line = _line(_followed(_Clock()))
    assert "0:00:06" in line, line


def test_elapsed_keeps_running_after_the_last_partition_while_the_job_runs() -> None:
    clock = _Clock()
    progress = Progress(*JobBar.columns, get_time=clock, auto_refresh=False, disable=True)
    bar = JobBar(progress)
    bar.show(_state("running", 2, 0, {}))
    clock.now += 7
    assert "0:00:07" in _line(progress)
