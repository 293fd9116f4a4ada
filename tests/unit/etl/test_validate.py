"""Spec validation: every problem named by its path, and the schema each transform leaves."""

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from tests.loaded_modules import packages_loaded
from tuskflow.etl.errors import Problem, SourceError, SpecError
from tuskflow.etl.spec import JobSpec, SourceSpec, parse_spec
from tuskflow.etl.types import TypeName
from tuskflow.etl.validate import UNCASTABLE, check_spec, output_schema

SCHEMAS: dict[str, dict[str, TypeName]] = {
    "sales.csv": {
        "_tf_file": "string",
        "_tf_row": "int",
        "id": "int",
        "region": "string",
        "amount": "float",
        "day": "date",
    },
    "regions.csv": {"region": "string", "manager": "string", "amount": "int"},
    "codes.csv": {"region": "int", "code": "string"},
}
SALES = "available: id, region, amount, day"


def schema_of(source: SourceSpec) -> dict[str, TypeName]:
    """A fake of sources.read_schema: a dict lookup, SourceError for a path it lacks."""
    try:
        return SCHEMAS[source.path]
    except KeyError:
        raise SourceError(f"no files match {source.path!r}") from None


def spec(
    *transforms: dict[str, Any],
    sink: dict[str, Any] | None = None,
    checks: list[dict[str, Any]] | None = None,
    path: str = "sales.csv",
) -> JobSpec:
    return parse_spec(
        {
            "version": 1,
            "name": "test",
            "source": {"format": "csv", "path": path},
            "transforms": list(transforms),
            "sink": sink or {"kind": "csv", "path": "out.csv"},
            "checks": checks or [],
        }
    )


def join(path: str, *on: str) -> dict[str, Any]:
    return {"op": "join", "source": {"format": "csv", "path": path}, "on": list(on)}


def problems(job: JobSpec) -> list[tuple[str, str]]:
    return [(problem.path, problem.message) for problem in check_spec(job, schema_of)]


def test_a_valid_spec_has_no_problems_and_its_output_schema_follows_each_transform() -> None:
    job = spec(
        {"op": "filter", "where": "amount > 0 and region in ('north', 'east')"},
        {"op": "derive", "column": "cents", "expr": "round(amount * 100)"},
        {"op": "cast", "columns": {"cents": "int", "id": "int"}},
        {"op": "rename", "columns": {"day": "sold_on", "id": "sale_id"}},
        join("regions.csv", "region"),
        {"op": "select", "columns": ["region", "manager", "cents", "amount_right", "sold_on"]},
        {"op": "sort", "by": ["sold_on"]},
        {"op": "dedupe", "columns": ["region", "sold_on"]},
        sink={"kind": "parquet", "path": "out", "partition_by": ["region"]},
        checks=[
            {"check": "not_null", "columns": ["region"]},
            {"check": "range", "column": "cents", "min": 0},
            {"check": "regex", "column": "manager", "pattern": "^[A-Z]"},
            {"check": "accepted_values", "column": "region", "values": ["north", "east"]},
        ],
    )

    assert check_spec(job, schema_of) == []
    assert list(output_schema(job, schema_of).items()) == [
        ("region", "string"),
        ("manager", "string"),
        ("cents", "int"),
        ("amount_right", "int"),
        ("sold_on", "date"),
    ]


def test_an_unknown_column_is_named_with_the_available_ones_and_reported_once() -> None:
    job = spec(
        {"op": "filter", "where": "amont > 0"},
        {"op": "derive", "column": "double", "expr": "amont * 2"},
        {"op": "select", "columns": ["id", "amont", "double"]},
        checks=[{"check": "not_null", "columns": ["amont"]}],
    )

    assert problems(job) == [("transforms[0].where", f"unknown column 'amont'; {SALES}")]


def test_hidden_columns_are_never_visible_to_the_spec() -> None:
    job = spec(
        {"op": "filter", "where": "_tf_row > 1"},
        {"op": "select", "columns": ["id", "_tf_file"]},
    )

    assert problems(job) == [
        ("transforms[0].where", f"unknown column '_tf_row'; {SALES}"),
        ("transforms[1].columns[1]", f"unknown column '_tf_file'; {SALES}"),
    ]
    assert "_tf_row" not in output_schema(spec(), schema_of)


def test_a_bad_expression_is_reported_at_its_path_with_the_position() -> None:
    job = spec({"op": "derive", "column": "x", "expr": "amount * (id + )"})

    assert problems(job) == [
        ("transforms[0].expr", "incomplete expression near ')' at 15 in 'amount * (id + )'"),
    ]


def test_an_int_literal_outside_int64_is_reported_at_its_path() -> None:
    job = spec({"op": "derive", "column": "x", "expr": "id + 99999999999999999999"})

    assert problems(job) == [
        (
            "transforms[0].expr",
            "integer 99999999999999999999 at 5 in 'id + 99999999999999999999' is outside the "
            "64-bit integer range; write it as a float (1e+20) if you meant one",
        )
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "unknown function '__import__'; known: abs,"),
        ("id.__class__", "qualified names (id.__class__) are not part of the grammar at 0"),
        ("region; drop table x", "more than one expression is not part of the expression grammar"),
    ],
)
def test_an_unsafe_expression_is_refused_at_its_path(text: str, message: str) -> None:
    found = problems(spec({"op": "filter", "where": text}))

    assert [path for path, _ in found] == ["transforms[0].where"]
    assert message in found[0][1]


def test_wrong_types_are_reported_where_they_are_written() -> None:
    total = {"total": {"fn": "sum", "column": "day"}}
    job = spec(
        {"op": "filter", "where": "amount * 2"},
        {"op": "derive", "column": "label", "expr": "region + id"},
        {"op": "aggregate", "by": ["region"], "aggregations": total},
        sink={"kind": "eventstore", "stream_id": "total", "event_type": "Sold"},
        checks=[
            {"check": "range", "column": "region", "max": 3},
            {"check": "regex", "column": "total", "pattern": "x"},
        ],
    )

    assert problems(job) == [
        ("transforms[0].where", "a filter needs a bool expression; 'amount * 2' is float"),
        ("transforms[1].expr", "cannot add string and int in 'region + id'; use concat()"),
        ("transforms[2].aggregations.total.column", "sum needs a numeric column; 'day' is date"),
        ("checks[0].column", "a range check needs a numeric column; 'region' is string"),
    ]


def test_a_failed_expression_does_not_cascade_into_later_steps() -> None:
    job = spec(
        {"op": "derive", "column": "label", "expr": "region + id"},
        {"op": "filter", "where": "label == 'x'"},
        checks=[{"check": "regex", "column": "label", "pattern": "x"}],
    )

    assert [path for path, _ in problems(job)] == ["transforms[0].expr"]


def test_a_stream_id_must_type_to_string_or_int() -> None:
    def stream(text: str) -> list[tuple[str, str]]:
        return problems(spec(sink={"kind": "eventstore", "stream_id": text, "event_type": "E"}))

    assert stream("concat('sale-', id)") == []
    assert stream("id") == []
    assert stream("amount / 2") == [
        ("sink.stream_id", "a stream id is a string or an int, not float: 'amount / 2'"),
    ]
    assert stream("regio") == [("sink.stream_id", f"unknown column 'regio'; {SALES}")]


def test_a_missing_source_is_one_problem_without_unknown_column_noise() -> None:
    job = spec(
        {"op": "filter", "where": "region == 'north'"},
        {"op": "derive", "column": "x", "expr": "lower(region)"},
        checks=[{"check": "not_null", "columns": ["x", "anything"]}],
        path="missing/*.csv",
    )

    assert problems(job) == [("source.path", "no files match 'missing/*.csv'")]


def test_a_missing_join_source_is_reported_at_the_joins_source_path() -> None:
    job = spec(
        join("gone.csv", "region", "zone"),
        {"op": "filter", "where": "manager == 'Ann'"},
    )

    assert problems(job) == [
        ("transforms[0].source.path", "no files match 'gone.csv'"),
        ("transforms[0].on[1]", f"unknown column 'zone'; {SALES}"),
    ]


def test_join_keys_must_be_on_both_sides_with_one_type() -> None:
    assert problems(spec(join("regions.csv", "region", "id"))) == [
        (
            "transforms[0].on[1]",
            "join key 'id' is not a column of the joined source; it has region, manager, amount",
        ),
    ]
    assert problems(spec(join("codes.csv", "region"))) == [
        ("transforms[0].on[0]", "join key 'region' is string here and int in the joined source"),
    ]


def test_joined_columns_that_clash_are_named_right_and_the_keys_appear_once() -> None:
    job = spec(join("regions.csv", "region"))

    assert list(output_schema(job, schema_of)) == [
        "id", "region", "amount", "day", "manager", "amount_right",
    ]  # fmt: skip
    clash = spec(
        {"op": "derive", "column": "amount_right", "expr": "1"}, join("regions.csv", "region")
    )
    assert problems(clash) == [
        (
            "transforms[1].source",
            "the joined column 'amount' would be 'amount_right', which is already a column",
        ),
    ]


def test_cast_to_the_same_type_is_fine_and_an_impossible_cast_is_not() -> None:
    job = spec({"op": "cast", "columns": {"id": "int", "day": "float", "amount": "string"}})

    assert problems(job) == [("transforms[0].columns.day", "cannot cast 'day' from date to float")]
    assert problems(spec({"op": "cast", "columns": {"amount": "int"}})) == []
    assert problems(spec({"op": "cast", "columns": {"amunt": "int"}})) == [
        ("transforms[0].columns.amunt", f"unknown column 'amunt'; {SALES}"),
    ]


def test_rename_reports_unknown_sources_collisions_and_reserved_names() -> None:
    job = spec(
        {"op": "rename", "columns": {"id": "region", "zone": "area", "day": "_tf_day"}},
        {"op": "filter", "where": "area == 'x'"},
    )

    assert problems(job) == [
        ("transforms[0].columns.zone", f"unknown column 'zone'; {SALES}"),
        ("transforms[0].columns.day", "'_tf_day': names starting _tf_ are tuskflow's own"),
        ("transforms[0].columns.id", "renaming 'id' to 'region' gives two columns named 'region'"),
    ]


def test_a_rename_may_swap_two_names() -> None:
    job = spec({"op": "rename", "columns": {"id": "amount", "amount": "id"}})

    assert problems(job) == []
    assert output_schema(job, schema_of) == {
        "amount": "int", "region": "string", "id": "float", "day": "date",
    }  # fmt: skip


def test_aggregate_outputs_have_their_types_and_must_not_reuse_a_group_column() -> None:
    aggregations = {
        "n": {"fn": "count"},
        "total": {"fn": "sum", "column": "id"},
        "average": {"fn": "mean", "column": "amount"},
        "first_day": {"fn": "min", "column": "day"},
    }
    job = spec({"op": "aggregate", "by": ["region"], "aggregations": aggregations})
    clash = spec({"op": "aggregate", "by": ["region"], "aggregations": {"region": {"fn": "count"}}})

    assert output_schema(job, schema_of) == {
        "region": "string", "n": "int", "total": "int", "average": "float", "first_day": "date",
    }  # fmt: skip
    assert problems(clash) == [
        ("transforms[0].aggregations.region", "the output 'region' is also a group-by column"),
    ]


def test_sql_aggregations_are_typed_and_a_global_aggregate_has_no_keys() -> None:
    aggregations = {
        "n": "count(*)",
        "with_day": "count(day)",
        "regions": "count(distinct region)",
        "revenue": "sum(amount * (1 - 0.1))",
        "ids": "sum(id)",
        "average": "avg(id)",
        "last_day": "max(day - interval '1' day)",
    }
    job = spec({"op": "aggregate", "aggregations": aggregations})

    assert problems(job) == []
    assert output_schema(job, schema_of) == {
        "n": "int", "with_day": "int", "regions": "int", "revenue": "float", "ids": "int",
        "average": "float", "last_day": "date",
    }  # fmt: skip


def test_a_sql_aggregation_is_checked_where_it_is_written() -> None:
    aggregations = {
        "a": "sum(region)",
        "b": "avg(amont * 2)",
        "c": "sum(amount",
        "d": "amount + 1",
    }
    job = spec({"op": "aggregate", "by": ["region"], "aggregations": aggregations})

    assert problems(job) == [
        ("transforms[0].aggregations.a", "sum needs a numeric column; 'region' is string"),
        ("transforms[0].aggregations.b", f"unknown column 'amont'; {SALES}"),
        ("transforms[0].aggregations.c", "Expecting ) near 'amount' at 4 in 'sum(amount'"),
        (
            "transforms[0].aggregations.d",
            "an aggregation is one of count, sum, avg, min or max at 0 in 'amount + 1'",
        ),
    ]


def test_columns_named_by_sort_dedupe_sink_and_checks_must_exist() -> None:
    job = spec(
        {"op": "sort", "by": ["day", "when"]},
        {"op": "dedupe", "columns": ["id", "id"]},
        sink={"kind": "parquet", "path": "out", "partition_by": ["regio"]},
        checks=[
            {"check": "unique", "columns": ["id", "ref"]},
            {"check": "accepted_values", "column": "kind", "values": ["a"]},
            {"check": "regex", "column": "region", "pattern": "(open"},
            {"check": "row_count", "min": 10, "max": 1},
        ],
    )

    assert problems(job) == [
        ("transforms[0].by[1]", f"unknown column 'when'; {SALES}"),
        ("transforms[1].columns[1]", "'id' is named twice"),
        ("sink.partition_by[0]", f"unknown column 'regio'; {SALES}"),
        ("checks[0].columns[1]", f"unknown column 'ref'; {SALES}"),
        ("checks[1].column", f"unknown column 'kind'; {SALES}"),
        ("checks[2].pattern", "Invalid regular expression: missing ): (open"),
        ("checks[3]", "min 10 is greater than max 1"),
    ]


def test_checks_see_the_schema_after_the_transforms() -> None:
    job = spec(
        {"op": "select", "columns": ["id"]},
        checks=[{"check": "not_null", "columns": ["region"]}],
    )

    assert problems(job) == [("checks[0].columns[0]", "unknown column 'region'; available: id")]


def test_output_schema_refuses_a_spec_with_problems() -> None:
    job = spec({"op": "filter", "where": "amont > 0"})

    with pytest.raises(SpecError) as caught:
        output_schema(job, schema_of)

    assert str(Problem("transforms[0].where", f"unknown column 'amont'; {SALES}")) in str(
        caught.value
    )


def test_the_uncastable_pairs_are_those_arrow_has_no_kernel_for() -> None:
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    from tuskflow.etl.arrow_types import ARROW_TYPES  # noqa: PLC0415

    refused = set()
    for source, target in itertools.product(ARROW_TYPES, repeat=2):
        try:
            pc.cast(pa.array([], ARROW_TYPES[source]), ARROW_TYPES[target])
        except pa.ArrowNotImplementedError:
            refused.add((source, target))
    assert refused == UNCASTABLE


def test_checking_a_csv_spec_loads_neither_pyarrow_nor_numpy(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("id,amount\n1,2.5\n")
    spec = {
        "version": 1,
        "name": "light",
        "source": {"format": "csv", "path": "in.csv", "columns": {"id": "int", "amount": "float"}},
        "transforms": [{"op": "filter", "where": "amount between 1 and id * 2 + 0.5"}],
        "sink": {"kind": "parquet", "path": "out"},
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    code = "import sys; from tuskflow.scheduler import validate; validate(sys.argv[1])"
    loaded = packages_loaded(code, ["pyarrow", "numpy", "pandas"], "spec.json", cwd=tmp_path)

    assert loaded == []
