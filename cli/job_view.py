"""Showing a job in a terminal: a progress bar while it runs, then what it did."""

import json
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
)
from rich.text import Text

from tuskflow import scheduler
from tuskflow.etl.rejects import load_rejects
from tuskflow.jobs.job import FINISHED

console = Console(soft_wrap=True)  # long history lines stay whole off a terminal too


class _JobElapsed(ProgressColumn):
    """Time since following began; it stops when the job ends, not when its last partition
    does (rich's own column stops there, though checks and the publish come after)."""

    def render(self, task: Task) -> Text:
        ended_after = task.fields.get("ended_after")
        elapsed = task.elapsed if ended_after is None else ended_after
        return Text(str(timedelta(seconds=int(elapsed or 0))), style="progress.elapsed")


class JobBar:
    """One job's progress line: partitions done, rows read, rows rejected, time taken.

    While the partitions run it counts what they report; once the job ends it shows the job's
    own totals, which include the rows that checks after the partitions rejected.
    """

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("partitions  {task.fields[rows]:,} rows  {task.fields[rejected]:,} rejected"),
        _JobElapsed(),
    )

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.bar = progress.add_task("queued", total=None, rows=0, rejected=0, ended_after=None)
        self.started = progress.get_time()

    def show(self, state: dict[str, Any]) -> None:
        """Draw one state of the job, as ``scheduler.wait`` reports it."""
        result = state["result"]
        ended = state["status"] in FINISHED
        self.progress.update(
            self.bar,
            description=f"{state['status']} (attempt {state['attempt']})",
            total=state["partitions_total"] or None,
            completed=state["partitions_done"],
            rows=result.get("rows_in", state["rows_in"]),
            rejected=result.get("rejected", state["rejected"]),
            ended_after=self.progress.get_time() - self.started if ended else None,
        )


def follow(job_id: str) -> dict[str, Any]:
    """A progress bar of partitions done and rows read, until the job ends."""
    with Progress(*JobBar.columns, console=console, transient=False) as progress:
        bar = JobBar(progress)

        def outage(reason: str | None) -> None:
            if reason is None:
                progress.console.print("the database answers again; following the job")
            else:
                progress.console.print(f"waiting for the database ({reason}); the job goes on")

        return scheduler.wait(job_id, on_progress=bar.show, on_outage=outage)


def print_result(state: dict[str, Any]) -> None:
    """One job's outcome in a few lines."""
    console.print(f"job {state['job_id']} ({state['name']}): [bold]{state['status']}[/bold]")
    result = state["result"]
    if result:
        console.print(
            f"  rows in {result['rows_in']:,}, rows out {result['rows_out']:,},"
            f" rejected {result['rejected']:,}, {result['duration_s']} s"
        )
        console.print(f"  output: {result['output']}")
    if state["error"]:
        console.print(f"  error: {state['error']}")


def print_history(job_id: str) -> None:
    """The job's events from the event store, one line each."""
    console.print("history:")
    for event in scheduler.history(job_id):
        console.print(
            f"  {event['recorded_at']:%H:%M:%S.%f}  {event['event_type']:<18}"
            f" {_brief(event['data'])}"
        )


def print_rejects(database_url: str, state: dict[str, Any], limit: int) -> None:
    """How many rows the job's latest attempt rejected, and the first few with their reasons."""
    total, rows = load_rejects(database_url, state["job_id"], state["attempt"], limit)
    if total:
        console.print(f"rejects: {total:,} rows (first {len(rows)}):")
        for row in rows:
            console.print(f"  {row['source_file']}:{row['row']}  {row['reason']}")


def _brief(data: Any) -> str:
    shown = {k: v for k, v in dict(data).items() if k != "spec_json"}
    return json.dumps(shown, default=str)[:150]
