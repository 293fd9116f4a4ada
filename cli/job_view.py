"""Showing a job in a terminal: a progress bar while it runs, then what it did."""

import json
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tuskflow import scheduler
from tuskflow.etl.rejects import load_rejects

console = Console(soft_wrap=True)  # long history lines stay whole off a terminal too


def follow(job_id: str) -> dict[str, Any]:
    """A progress bar of partitions done and rows read, until the job ends."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("partitions  {task.fields[rows]:,} rows  {task.fields[rejected]:,} rejected"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("queued", total=None, rows=0, rejected=0)

        def show(state: dict[str, Any]) -> None:
            total = state["partitions_total"] or None
            progress.update(
                bar,
                description=f"{state['status']} (attempt {state['attempt']})",
                total=total,
                completed=state["partitions_done"],
                rows=state["rows_in"],
                rejected=state["rejected"],
            )

        def outage(reason: str | None) -> None:
            if reason is None:
                progress.console.print("the database answers again; following the job")
            else:
                progress.console.print(f"waiting for the database ({reason}); the job goes on")

        return scheduler.wait(job_id, on_progress=show, on_outage=outage)


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
