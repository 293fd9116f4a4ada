"""How every listing prints: a table that fits the terminal without cutting an id, or, with
``--json``, one JSON object a line (whole values, for scripts and jq)."""

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from tuskflow.eventstore.records import RecordedEvent

JsonOption = Annotated[bool, typer.Option("--json", help="one JSON object a line")]
# Piped, a table is as wide as its rows need: a pipe has no width to fit.
_PIPED_WIDTH = 10_000


def print_listing(rows: Sequence[Mapping[str, Any]], as_json: bool, *, empty: str) -> None:
    """``rows`` (dicts of the same keys, the first an id) as JSON lines or as a table."""
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, default=_json_value))
        return
    if not rows:
        typer.echo(empty)
        return
    table = Table()
    for index, key in enumerate(rows[0]):
        widest = max(len(_cell(key, row[key])) for row in rows) if index == 0 else None
        table.add_column(key.replace("_", " "), no_wrap=index == 0, min_width=widest)
    for row in rows:
        table.add_row(*(_cell(key, value) for key, value in row.items()))
    console = Console() if sys.stdout.isatty() else Console(width=_PIPED_WIDTH)
    console.print(table)


def _cell(key: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and not _is_identifier(key):
        return f"{value:,}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return str(value)


def _is_identifier(key: str) -> bool:
    """Numbers that name something (an id, a pid) are shown as they are, without separators."""
    return key in {"id", "pid"} or key.endswith(("_id", "_position"))


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def event_line(event: "RecordedEvent") -> str:
    """An event as one JSON line, every field: how `store read --json`, `store tail` and
    `archive read` print events."""
    return json.dumps(
        {
            "position": event.global_position,
            "stream": event.stream_id,
            "version": event.stream_version,
            "type": event.event_type,
            "event_id": str(event.event_id),
            "recorded_at": event.recorded_at.isoformat(),
            "data": event.data,
            "metadata": event.metadata,
        },
        default=str,
    )
