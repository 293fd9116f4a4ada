"""The expression grammar: parsing, refusing unsafe text, typing, and vectorized evaluation."""

import datetime as dt
import time

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tuskflow.etl.errors import ExpressionError
from tuskflow.etl.expressions import (
    Binary,
    Call,
    Column,
    Expr,
    In,
    Interval,
    Literal,
    Unary,
    columns,
    evaluate,
    infer_type,
    parse,
    render,
)
from tuskflow.etl.types import TypeName

a, b, c = Column("a"), Column("b"), Column("c")
one, null = Literal(1), Literal(None)


def _parse_error(text: str) -> str:
    """The message parse() refuses the text with; the test fails if it parses."""
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    return str(caught.value)


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a + b * c", Binary("+", a, Binary("*", b, c))),
        ("(a + b) * c", Binary("*", Binary("+", a, b), c)),
        ("a - b - c", Binary("-", Binary("-", a, b), c)),
        ("a / b % c", Binary("%", Binary("/", a, b), c)),
        ("-a * b", Binary("*", Unary("-", a), b)),
        ("a + b > c", Binary(">", Binary("+", a, b), c)),
        ("not a == b", Unary("not", Binary("==", a, b))),
        ("a or b and c", Binary("or", a, Binary("and", b, c))),
        ("not a and b", Binary("and", Unary("not", a), b)),
        ("a = 1 OR b <> 1", Binary("or", Binary("==", a, one), Binary("!=", b, one))),
        ("a in ('x', -1, 2.5, null)", In(a, tuple(map(Literal, ["x", -1, 2.5, None])))),
        ("a not in (1)", Unary("not", In(a, (Literal(1),)))),
        ("`unit price` * 2", Binary("*", Column("unit price"), Literal(2))),
        ("`a``b`", Column("a`b")),
        ("'it''s'", Literal("it's")),
        ("TRUE and false", Binary("and", Literal(True), Literal(False))),
        ("NULL", Literal(None)),
        ("1e3 + 7", Binary("+", Literal(1000.0), Literal(7))),
        ("-2", Literal(-2)),
        ("ROUND(a, -1)", Call("round", (a, Literal(-1)))),
        ("if(a > 1, 'big', null)", Call("if", (Binary(">", a, one), Literal("big"), null))),
        ("coalesce(a, b, 0)", Call("coalesce", (a, b, Literal(0)))),
        ("a between 1 and b", Binary("and", Binary(">=", a, one), Binary("<=", a, b))),
        ("a is null", Call("is_null", (a,))),
        ("a is not null", Unary("not", Call("is_null", (a,)))),
        ("case when a then b end", Call("if", (a, b, null))),
        ("a like 'x%'", Call("like", (a, Literal("x%")))),
        ("cast(a as int)", Call("cast", (a, Literal("int")))),
        ("date '1998-12-01'", Literal(dt.date(1998, 12, 1))),
        ("a - interval '90' day", Binary("-", a, Interval(90, "day"))),
        ("a || b", Call("concat", (a, b))),
        ('"unit price" <> 1', Binary("!=", Column("unit price"), one)),
        ("concat(lower(a), '-')", Call("concat", (Call("lower", (a,)), Literal("-")))),
    ],
)  # fmt: skip
def test_parse_builds_the_tree_with_sql_precedence(text: str, tree: Expr) -> None:
    assert parse(text) == tree
    assert parse(render(tree)) == tree


def test_render_adds_only_the_parentheses_precedence_needs() -> None:
    assert render(parse("(a + b) * (c - 1) - (a - b)")) == "(a + b) * (c - 1) - (a - b)"
    assert render(parse("(not a) == b or (c in (1, 'x''y'))")) == "(not a) = b or c in (1, 'x''y')"
    assert render(parse("-(a * `b c`) / -2.5")) == "-(a * `b c`) / -2.5"


def test_int_and_float_literals_keep_their_kind() -> None:
    assert isinstance(parse("2").value, int)  # type: ignore[union-attr]
    assert isinstance(parse("2.0").value, float)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a + (b * )", "incomplete expression near ')' at 9 in 'a + (b * )'"),
        ("a +", "incomplete expression near '+' at 2 in 'a +'"),
        ("a b", "unexpected 'b': two expressions with no operator between them at 2 in 'a b'"),
        ("a < b < c", "comparisons do not chain; join them with and at 8 in 'a < b < c'"),
        ("a in (b)", "in takes a list of literals, not b at 6 in 'a in (b)'"),
        ("a not b", "unexpected text near 'not' at 2"),
        ("'open", 'unterminated string or quoted name in "\'open"'),
        ("and", "incomplete expression near 'and'"),
        ("round(a, 1, 2)", "round() takes 1 or 2 arguments, not 3 at 0"),
        ("lower()", "lower() lacks an argument near ')' at 6"),
        ("a between 1", "incomplete expression"),
        ("x is 1", "is takes null only (is null, is not null); compare with = at 0"),
        ("s like lower(s)", "like takes its pattern as a string literal at 0"),
        ("d + interval '1' fortnight", "an interval takes a unit: year, quarter, month, week"),
        (
            "cast(a as blob)",
            "cannot cast to VARBINARY; cast to varchar, bigint, double, boolean, date",
        ),
        ("date '2024-02-30' < d", "'2024-02-30' is not a date at 5"),
        ("", "empty expression"),
    ],
)
def test_parse_errors_quote_the_text_and_point_at_the_position(text: str, message: str) -> None:
    assert message in _parse_error(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "unknown function '__import__'; known: abs, ceil,"),
        ("__import__('os').system('ls')", "attribute access is not part of the expression grammar"),
        ("eval('1')", "unknown function 'eval'; known:"),
        ("a.__class__", "qualified names (a.__class__) are not part of the grammar at 0"),
        ("a[0]", "a subscript is not part of the expression grammar at 0 in 'a[0]'"),
        ("lambda x: x", "unexpected text near ':' at 8"),
        ("a; b", "more than one expression is not part of the expression grammar"),
        ("(select password from users)", "a subquery is not part of the expression grammar"),
        ("a in (select 1)", "in takes a list of literals, not a query"),
        ("sum(a) over ()", "a window is not part of the expression grammar"),
        ("(" * 50000 + "a" + ")" * 50000, "expression nests too deeply"),
    ],
)
def test_unsafe_text_is_refused_with_a_clear_message(text: str, message: str) -> None:
    assert message in _parse_error(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a + 99999999999999999999",
            "integer 99999999999999999999 at 4 in 'a + 99999999999999999999' is outside the "
            "64-bit integer range; write it as a float (1e+20) if you meant one",
        ),
        ("a - 9223372036854775808", "integer 9223372036854775808 at 4 in"),
        ("-9223372036854775809 < a", "integer -9223372036854775809 at 1 in"),
        ("- -9223372036854775808", "integer 9223372036854775808 at 3 in"),
        ("(9223372036854775808)", "integer 9223372036854775808 at 1 in"),
        ("a in (1, - 9223372036854775809)", "integer -9223372036854775809 at 11 in"),
        ("if(a > 0, 18446744073709551616, 0)", "write it as a float (1.8446744073709552e+19)"),
    ],
)
def test_int_literals_outside_int64_are_refused_where_they_are_written(
    text: str, message: str
) -> None:
    assert message in _parse_error(text)


def test_int_literals_at_the_edges_of_int64_parse_and_evaluate() -> None:
    table = pa.table({"a": pa.array([0], pa.int64())})
    low, high = -(2**63), 2**63 - 1

    assert parse("-9223372036854775808") == Literal(low)
    assert parse("a in (-9223372036854775808, 9223372036854775807)") == In(
        Column("a"), (Literal(low), Literal(high))
    )
    assert evaluate(parse("a + 9223372036854775807"), table).to_pylist() == [high]
    assert evaluate(parse("a + 1e20"), table).to_pylist() == [1e20]


def test_unknown_function_error_lists_the_known_ones() -> None:
    known = r"known: abs, ceil, coalesce, concat, date_diff, date_trunc, day, .*year"
    with pytest.raises(ExpressionError, match=known):
        parse("summ(a)")


def test_an_aggregate_in_a_row_expression_says_where_it_belongs() -> None:
    with pytest.raises(ExpressionError, match=r"sum\(\) is an aggregation: it goes in an agg"):
        parse("sum(a) > 1")


def test_columns_are_every_name_the_expression_reads() -> None:
    expr = parse("if(a > 1, `b c`, coalesce(d, 0)) in (1, 2) or not e")

    assert columns(expr) == frozenset({"a", "b c", "d", "e"})
    assert columns(parse("1 + 2")) == frozenset()


_names = st.text(min_size=1, max_size=8)
_literals = st.builds(
    Literal,
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
)


def _trees(leaves: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    non_number = leaves.filter(
        lambda e: not (isinstance(e, Literal) and type(e.value) in (int, float))
    )
    ops = st.sampled_from(["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or"])
    return st.one_of(
        st.builds(Unary, st.just("not"), leaves),
        st.builds(Unary, st.just("-"), non_number),
        st.builds(Binary, ops, leaves, leaves),
        st.builds(In, leaves, st.lists(_literals, min_size=1, max_size=3).map(tuple)),
        st.builds(Call, st.just("lower"), st.tuples(leaves)),
        st.builds(Call, st.just("if"), st.tuples(leaves, leaves, leaves)),
        st.builds(Call, st.just("coalesce"), st.lists(leaves, min_size=1, max_size=3).map(tuple)),
    )  # fmt: skip


_exprs = st.recursive(st.builds(Column, _names) | _literals, _trees, max_leaves=12)


@given(_exprs)
def test_rendered_expressions_parse_back_to_the_same_tree(expr: Expr) -> None:
    assert parse(render(expr)) == expr


SCHEMA: dict[str, TypeName] = {
    "n": "int",
    "x": "float",
    "s": "string",
    "f": "bool",
    "d": "date",
    "t": "timestamp",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n + n", "int"),
        ("n * 2 - n % 3", "int"),
        ("n + x", "float"),
        ("n / n", "float"),
        ("-n", "int"),
        ("n > x", "bool"),
        ("s == 'a' and not f or null", "bool"),
        ("n in (1, 2.5, null)", "bool"),
        ("d >= to_date('2024-01-01')", "bool"),
        ("n + null", "int"),
        ("null", "string"),
        ("length(s)", "int"),
        ("upper(s)", "string"),
        ("round(x, 2)", "float"),
        ("abs(n)", "int"),
        ("coalesce(n, x)", "float"),
        ("coalesce(null, s)", "string"),
        ("if(f, n, null)", "int"),
        ("is_null(d)", "bool"),
        ("year(t) + month(d) + day(d)", "int"),
        ("concat(s, n, d)", "string"),
        ("to_date(t)", "date"),
        ("d - interval '90' day", "date"),
        ("d + interval '2' hour", "timestamp"),
        ("t - interval '1' week", "timestamp"),
        ("d - date '2024-01-01'", "int"),
        ("d + 7", "date"),
        ("n between 1 and x", "bool"),
        ("s is not null", "bool"),
        ("case when f then n else x end", "float"),
        ("s like 'a%'", "bool"),
        ("cast(n as varchar)", "string"),
        ("try_cast(s as date)", "date"),
        ("extract(year from t)", "int"),
        ("s || n", "string"),
        ("timestamp '2024-01-02 03:04:05'", "timestamp"),
    ],
)
def test_infer_type_follows_the_rules(text: str, expected: TypeName) -> None:
    assert infer_type(parse(text), SCHEMA) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("s + n", "cannot add string and int in 's + n'; use concat()"),
        ("d * n", "cannot multiply date and int in 'd * n'"),
        ("s < n", "cannot compare string and int in 's < n'"),
        ("d > '2024-01-01'", "cannot compare date and string in \"d > '2024-01-01'\"; write a"),
        ("d + s", "cannot add date and string"),
        ("t - t", "timestamp - timestamp is not supported yet"),
        ("interval '1' day - d", "an interval only adds to or subtracts from a date or time"),
        ("n + interval '1' day", "cannot add an interval to int"),
        ("substring(s, n)", "substring() takes start and length as literals"),
        ("n and f", "and needs bool operands, not int and bool in 'n and f'"),
        ("not s", "not needs a bool operand, not string"),
        ("-f", "cannot negate bool"),
        ("n in ('a')", "cannot compare int and string"),
        ("lower(n)", "lower() needs a string, not int in 'lower(n)'"),
        ("abs(s)", "abs() needs a number, not string"),
        ("round(x, n)", "round() takes its digits as an int literal"),
        ("year(s)", "year() needs a date or timestamp, not string"),
        ("if(n, 1, 2)", "if() needs a bool condition, not int"),
        ("coalesce(n, s)", "coalesce() needs arguments of one type, not int, string"),
        ("amount * 2", "unknown column 'amount'; available: n, x, s, f, d, t"),
    ],
)
def test_infer_type_names_the_mismatch_or_the_unknown_column(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        infer_type(parse(text), SCHEMA)

    assert message in str(caught.value)


@pytest.fixture
def table() -> pa.Table:
    return pa.table(
        {
            "n": pa.array([7, -7, None, 4], pa.int64()),
            "x": pa.array([0.5, None, 2.0, 0.0], pa.float64()),
            "s": pa.array([" Ab ", "c", None, "it's"], pa.large_string()),
            "f": pa.array([True, False, None, None], pa.bool_()),
            "d": pa.array([dt.date(2024, 2, 29), None, dt.date(1999, 12, 31), dt.date(2000, 1, 1)]),
            "t": pa.array([dt.datetime(2024, 5, 6, 23, 59), None, None, None], pa.timestamp("us")),
        }
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n + 1", [8, -6, None, 5]),
        ("n * x", [3.5, None, None, 0.0]),
        ("n / 2", [3.5, -3.5, None, 2.0]),
        ("n % 3", [1, -1, None, 1]),  # SQL's remainder keeps the dividend's sign
        ("n / x", [14.0, None, None, None]),  # a zero divisor gives null, not inf or an error
        ("n % 0", [None, None, None, None]),
        ("-n", [-7, 7, None, -4]),
        ("n > 0", [True, False, None, True]),
        ("n == null", [None, None, None, None]),
        ("s == 'c'", [False, True, None, False]),
        ("n in (7, 4)", [True, False, None, True]),
        ("n in (7, null)", [True, None, None, None]),
        ("n not in (7, 4)", [False, True, None, False]),
        ("f and null", [None, False, None, None]),
        ("f or null", [True, None, None, None]),
        ("f and n > 0", [True, False, None, None]),
        ("not f", [False, True, None, None]),
        ("lower(trim(s))", ["ab", "c", None, "it's"]),
        ("upper(s)", [" AB ", "C", None, "IT'S"]),
        ("length(s)", [4, 1, None, 4]),
        ("abs(n)", [7, 7, None, 4]),
        ("round(x * 5)", [3.0, None, 10.0, 0.0]),  # half away from zero: 2.5 -> 3
        ("round(n * 1.05, 1)", [7.4, -7.4, None, 4.2]),
        ("floor(x + 0.7)", [1.0, None, 2.0, 0.0]),
        ("ceil(n)", [7, -7, None, 4]),
        ("coalesce(n, x, 9)", [7.0, -7.0, 2.0, 4.0]),
        ("is_null(f)", [False, False, True, True]),
        ("if(f, n, 0)", [7, 0, 0, 0]),  # a null condition takes the else branch
        ("concat(s, '/', n)", [" Ab /7", "c/-7", None, "it's/4"]),
        ("year(d) * 100 + month(d)", [202402, None, 199912, 200001]),
        ("day(t)", [6, None, None, None]),
        ("to_date(t) == d", [False, None, None, None]),
        # '2024-08-01', '2024-0-6-01' (not a date: null), null, '2024-05-01'
        (
            "to_date(concat('2024-0', n % 10 + 1, '-01'))",
            [dt.date(2024, 8, 1), None, None, dt.date(2024, 5, 1)],
        ),
        # SQL: literals of dates, intervals, date arithmetic, between, is null, case, like, cast
        ("d <= date '2000-01-01' - interval '1' day", [False, None, True, False]),
        ("d between date '1999-12-31' and date '2000-01-01'", [False, None, True, True]),
        ("d not between date '1999-12-31' and date '2000-01-01'", [True, None, False, False]),
        ("d - date '1999-12-31'", [8826, None, 0, 1]),
        ("d + 1", [dt.date(2024, 3, 1), None, dt.date(2000, 1, 1), dt.date(2000, 1, 2)]),
        ("t + interval '1' minute", [dt.datetime(2024, 5, 7, 0, 0), None, None, None]),
        ("n between -7 and 4", [False, True, None, True]),
        ("n is null", [False, False, True, False]),
        ("s is not null", [True, True, False, True]),
        ("case when n > 0 then 'pos' when n < 0 then 'neg' end", ["pos", "neg", None, "pos"]),
        ("case n when 7 then 1 when 4 then 2 else 0 end", [1, 0, 0, 2]),
        ("s like '%b%'", [True, False, None, False]),
        ("s ilike '%B%'", [True, False, None, False]),
        ("s not like 'c'", [True, False, None, True]),
        ("cast(n as varchar)", ["7", "-7", None, "4"]),
        ("try_cast(s as bigint)", [None, None, None, None]),
        ("cast(x as bigint)", [1, None, 2, 0]),  # rounded half away from zero, as PostgreSQL
        ("substring(s, 2, 2)", ["Ab", "", None, "t'"]),
        ("replace(s, 'b', 'B')", [" AB ", "c", None, "it's"]),
        ("s || '!'", [" Ab !", "c!", None, "it's!"]),
        ("extract(month from d)", [2, None, 12, 1]),
    ],
)
def test_evaluate_computes_with_sql_null_semantics(
    table: pa.Table, text: str, expected: list[object]
) -> None:
    assert evaluate(parse(text), table).to_pylist() == expected


@pytest.mark.parametrize(
    ("text", "arrow_type", "value"),
    [
        ("1 + 2", pa.int64(), 3),
        ("'k'", pa.large_string(), "k"),
        ("null", pa.large_string(), None),
        ("true or null", pa.bool_(), True),
        ("to_date('2024-01-31')", pa.date32(), dt.date(2024, 1, 31)),
        ("if(null, 1.5, 2)", pa.float64(), 2.0),
    ],
)
def test_literal_only_expressions_are_broadcast_to_every_row(
    table: pa.Table, text: str, arrow_type: pa.DataType, value: object
) -> None:
    result = evaluate(parse(text), table)

    assert result.type == arrow_type
    assert result.to_pylist() == [value] * table.num_rows


@pytest.mark.parametrize(
    ("text", "arrow_type"),
    [("length(s)", pa.int64()), ("s", pa.large_string()), ("n / 1", pa.float64())],
)
def test_results_have_the_arrow_type_of_their_spec_type(
    table: pa.Table, text: str, arrow_type: pa.DataType
) -> None:
    assert evaluate(parse(text), table).type == arrow_type


def test_evaluate_on_an_empty_table_gives_an_empty_column(table: pa.Table) -> None:
    assert evaluate(parse("n + 1 > 2"), table.slice(0, 0)).to_pylist() == []
    assert evaluate(parse("'x'"), table.slice(0, 0)).to_pylist() == []


def test_evaluate_names_a_column_the_table_lacks(table: pa.Table) -> None:
    with pytest.raises(ExpressionError, match="unknown column 'm'; available: n, x, s, f, d, t"):
        evaluate(parse("n + m"), table)


def test_evaluate_refuses_a_type_mismatch_and_integer_overflow(table: pa.Table) -> None:
    with pytest.raises(ExpressionError, match="cannot add string and int"):
        evaluate(parse("s + 1"), table)
    with pytest.raises(ExpressionError, match="cannot evaluate 'n \\* 9223372036854775807'"):
        evaluate(parse("n * 9223372036854775807"), table)


def test_evaluate_is_vectorized_over_a_million_rows() -> None:
    size = 1_000_000
    big = pa.table({"n": pa.array(range(size), pa.int64()), "s": pa.repeat("x", size)})
    expr = parse("if(n % 2 == 0 and s in ('x', 'y'), n * 2, coalesce(null, n)) + length(s)")

    started = time.perf_counter()
    result = evaluate(expr, big)
    elapsed = time.perf_counter() - started

    assert len(result) == size
    assert result[3].as_py() == 4
    assert result[4].as_py() == 9
    assert elapsed < 2.0, f"{elapsed:.2f}s: per-row work would take far longer than arrow kernels"
