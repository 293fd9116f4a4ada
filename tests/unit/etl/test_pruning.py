"""Projection pushdown: the source columns a job reads."""

from typing import Any

from tuskflow.etl.pruning import needed_columns
from tuskflow.etl.spec import parse_spec
from tuskflow.etl.types import TypeName

SCHEMA: dict[str, TypeName] = {
    "order_id": "int",
    "day": "date",
    "region": "string",
    "qty": "int",
    "price": "float",
    "note": "string",
}


RIGHT: dict[str, TypeName] = {"order_id": "int", "price": "float", "vat": "float"}


def needed(*transforms: dict[str, Any]) -> list[str]:
    """The columns read for a job with these transforms."""
    spec = parse_spec(
        {
            "version": 1,
            "name": "t",
            "source": {"format": "csv", "path": "x.csv"},
            "transforms": list(transforms),
            "sink": {"kind": "csv", "path": "out.csv"},
        }
    )
    return list(needed_columns(spec, SCHEMA, lambda source: RIGHT))


def test_a_job_without_select_or_aggregate_reads_every_column() -> None:
    assert needed({"op": "filter", "where": "qty > 0"}) == list(SCHEMA)


def test_an_aggregate_reads_its_keys_values_and_what_came_before() -> None:
    assert needed(
        {"op": "filter", "where": "price > 1"},
        {"op": "derive", "column": "revenue", "expr": "qty * price"},
        {
            "op": "aggregate",
            "by": ["region"],
            "aggregations": {"revenue": {"fn": "sum", "column": "revenue"}, "n": {"fn": "count"}},
        },
    ) == ["region", "qty", "price"]


def test_a_rename_before_a_select_maps_back_to_source_names() -> None:
    assert needed(
        {"op": "rename", "columns": {"note": "comment"}},
        {"op": "select", "columns": ["order_id", "comment"]},
    ) == ["order_id", "note"]


def test_a_derived_column_replacing_a_source_one_is_not_read_after_it() -> None:
    assert needed(
        {"op": "derive", "column": "price", "expr": "qty * 2"},
        {"op": "select", "columns": ["price"]},
    ) == ["qty"]


def test_a_left_column_named_like_a_right_one_is_read_so_the_right_one_gets_its_suffix() -> None:
    assert needed(
        {"op": "join", "source": {"format": "csv", "path": "r.csv"}, "on": ["order_id"]},
        {"op": "select", "columns": ["order_id", "price_right", "vat"]},
    ) == ["order_id", "price"]
