"""What every benchmark shares: its schema, its arithmetic and its printed summary."""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql


def with_search_path(url: str, schema: str) -> str:
    """``url`` with every connection's search_path set to ``schema``."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


def drop_schema(base_url: str, schema: str) -> None:
    """Drop ``schema`` and everything in it, if it exists."""
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def median(samples: Sequence[float]) -> float:
    """The median of the samples."""
    return statistics.median(samples)


def per_second(count: int, seconds: float) -> float:
    """``count`` over ``seconds``."""
    return count / seconds if seconds > 0 else float("inf")


def rate_text(value: float, unit: str = "ev/s") -> str:
    """A rate for the table."""
    return f"{value:,.0f} {unit}"


def progress(message: str) -> None:
    """One progress line, flushed at once."""
    print(message, flush=True)


@dataclass(frozen=True)
class Row:
    """One line of the summary: a ratio and the target it is held against."""

    measure: str
    ours: str
    reference: str
    ratio: float
    target: str
    met: bool | None


def print_summary(rows: Sequence[Row]) -> None:
    """The final table: measure, ours, reference, ratio, target, met."""
    headers = ("measure", "ours", "reference", "ratio", "target", "met")
    cells = [
        (
            row.measure,
            row.ours,
            row.reference,
            f"{row.ratio:.2f}",
            row.target,
            "n/a" if row.met is None else ("yes" if row.met else "no"),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [headers, *cells]) for i in range(len(headers))]
    print()
    print("summary")
    for line in [headers, tuple("-" * width for width in widths), *cells]:
        cells_text = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        print("  ".join(cells_text).rstrip())
