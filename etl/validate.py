"""Check a job spec against its source's schema before it runs, naming every problem by path.

The walk follows the transforms in order with the columns each one leaves. It reports every
problem rather than the first, and keeps going after one with the best schema it can: a column
reported unknown is not reported again, a column whose type is unknown takes part in no type
check, and after a source that cannot be read any column may exist.
"""

from collections.abc import Callable, Sequence
from typing import Any, cast

from tuskflow.etl.errors import ExpressionError, Problem, SourceError, SpecError
from tuskflow.etl.expressions import Expr, columns, infer_type, parse, parse_aggregate, render
from tuskflow.etl.sources import HIDDEN_COLUMNS
from tuskflow.etl.spec import (
    AcceptedValues,
    Aggregation,
    Cast,
    Dedupe,
    Derive,
    EventStoreSink,
    Filter,
    GroupBy,
    JobSpec,
    Join,
    NotNull,
    ParquetSink,
    Range,
    Regex,
    Rename,
    RowCount,
    Select,
    Sort,
    SourceSpec,
    Unique,
)
from tuskflow.etl.types import NUMERIC, TypeName

SourceSchema = Callable[[SourceSpec], dict[str, TypeName]]

# The columns sources add to every row (sources.HIDDEN_COLUMNS); users never see them.
_HIDDEN = frozenset(HIDDEN_COLUMNS)
# Transforms name their working columns with this prefix, so no user column may take it.
_RESERVED_PREFIX = "_tf_"
_AGGREGATE_TYPES: dict[str, TypeName] = {"count": "int", "count_distinct": "int", "avg": "float"}


def check_spec(spec: JobSpec, source_schema: SourceSchema) -> list[Problem]:
    """Every problem of the spec against its sources' schemas, each at its dotted path."""
    return _Walk(spec, source_schema).problems


def output_schema(spec: JobSpec, source_schema: SourceSchema) -> dict[str, TypeName]:
    """The output's columns and types, in order; SpecError if the spec has any problem."""
    walk = _Walk(spec, source_schema)
    if walk.problems:
        raise SpecError.of(walk.problems)
    return {name: cast(TypeName, found) for name, found in walk.schema.items()}


class _Walk:
    """One pass over a spec; ``schema`` maps each column to its type, None when unknown."""

    def __init__(self, spec: JobSpec, source_schema: SourceSchema) -> None:
        self.source_schema = source_schema
        self.problems: list[Problem] = []
        self.reported: set[str] = set()
        self.schema: dict[str, TypeName | None] = {}
        source = self.read(spec.source, "source.path")
        self.schema = source or {}
        self.complete = source is not None  # False: any column may exist, none is unknown
        for index, transform in enumerate(spec.transforms):
            _TRANSFORMS[type(transform)](self, f"transforms[{index}]", transform)
        self.sink(spec)
        for index, check in enumerate(spec.checks):
            _CHECKS[type(check)](self, f"checks[{index}]", check)

    def report(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def read(self, source: SourceSpec, path: str) -> dict[str, TypeName | None] | None:
        try:
            found = self.source_schema(source)
        except SourceError as exc:
            self.report(path, str(exc))
            return None
        return {name: kind for name, kind in found.items() if name not in _HIDDEN}

    def available(self) -> str:
        return ", ".join(self.schema) or "none"

    def need(self, path: str, name: str) -> TypeName | None:
        """The column's type, None when unknown; reports a column that does not exist."""
        if name in self.schema or not self.complete or name in self.reported:
            return self.schema.get(name)
        self.reported.add(name)
        self.report(path, f"unknown column {name!r}; available: {self.available()}")
        return None

    def needs(self, path: str, names: Sequence[str]) -> None:
        seen: set[str] = set()
        for index, name in enumerate(names):
            self.need(f"{path}[{index}]", name)
            if name in seen:
                self.report(f"{path}[{index}]", f"{name!r} is named twice")
            seen.add(name)

    def expression(self, path: str, text: str) -> TypeName | None:
        """The expression's type; None, with its problems reported, when it has none."""
        try:
            expr = parse(text)
        except ExpressionError as exc:
            self.report(path, str(exc))
            return None
        return self.typed(path, expr)

    def typed(self, path: str, expr: Expr) -> TypeName | None:
        """A parsed expression's type; None, with its problems reported, when it has none."""
        found = {name: self.need(path, name) for name in sorted(columns(expr))}
        if any(kind is None for kind in found.values()):
            return None
        try:
            return infer_type(expr, cast(dict[str, TypeName], found))
        except ExpressionError as exc:
            self.report(path, str(exc))
            return None

    def new_name(self, path: str, name: str) -> None:
        if name.startswith(_RESERVED_PREFIX):
            self.report(path, f"{name!r}: names starting {_RESERVED_PREFIX} are tuskflow's own")

    def sink(self, spec: JobSpec) -> None:
        if isinstance(spec.sink, ParquetSink):
            self.needs("sink.partition_by", spec.sink.partition_by)
        elif isinstance(spec.sink, EventStoreSink):
            found = self.expression("sink.stream_id", spec.sink.stream_id)
            if found is not None and found not in ("string", "int"):
                message = f"a stream id is a string or an int, not {found}"
                self.report("sink.stream_id", f"{message}: {spec.sink.stream_id!r}")


def _filter(walk: _Walk, path: str, transform: Filter) -> None:
    found = walk.expression(f"{path}.where", transform.where)
    if found is not None and found != "bool":
        message = f"a filter needs a bool expression; {transform.where!r} is {found}"
        walk.report(f"{path}.where", message)


def _select(walk: _Walk, path: str, transform: Select) -> None:
    walk.needs(f"{path}.columns", transform.columns)
    kept = [name for name in transform.columns if name in walk.schema or not walk.complete]
    walk.schema = {name: walk.schema.get(name) for name in kept}
    walk.complete = True


def _rename(walk: _Walk, path: str, transform: Rename) -> None:
    for old, new in transform.columns.items():
        walk.need(f"{path}.columns.{old}", old)
        walk.new_name(f"{path}.columns.{old}", new)
    renamed = [transform.columns.get(name, name) for name in walk.schema]
    for old, new in transform.columns.items():
        if old in walk.schema and renamed.count(new) > 1:
            walk.report(
                f"{path}.columns.{old}",
                f"renaming {old!r} to {new!r} gives two columns named {new!r}",
            )
    # A column renamed from one that is missing is assumed to exist, so no later step trips on it.
    before = set(walk.schema)
    walk.schema = dict(zip(renamed, walk.schema.values(), strict=True))
    for old, new in transform.columns.items():
        if old not in before:
            walk.schema.setdefault(new, None)


def _cast(walk: _Walk, path: str, transform: Cast) -> None:
    for name, target in transform.columns.items():
        found = walk.need(f"{path}.columns.{name}", name)
        if found is not None and not _castable(found, target):
            walk.report(f"{path}.columns.{name}", f"cannot cast {name!r} from {found} to {target}")
        if name in walk.schema or not walk.complete:
            walk.schema[name] = target


# The casts arrow has no kernel for, between the spec's types (a unit test holds this to
# arrow's own answer); written out so that checking a spec does not load pyarrow.
UNCASTABLE: frozenset[tuple[TypeName, TypeName]] = frozenset(
    {
        ("int", "date"),
        ("float", "date"),
        ("float", "timestamp"),
        ("bool", "date"),
        ("bool", "timestamp"),
        ("date", "int"),
        ("date", "float"),
        ("date", "bool"),
        ("timestamp", "float"),
        ("timestamp", "bool"),
    }
)


def _castable(source: TypeName, target: TypeName) -> bool:
    return (source, target) not in UNCASTABLE


def _derive(walk: _Walk, path: str, transform: Derive) -> None:
    walk.new_name(f"{path}.column", transform.column)
    walk.schema[transform.column] = walk.expression(f"{path}.expr", transform.expr)


def _dedupe(walk: _Walk, path: str, transform: Dedupe) -> None:
    walk.needs(f"{path}.columns", transform.columns)


def _sort(walk: _Walk, path: str, transform: Sort) -> None:
    walk.needs(f"{path}.per", transform.per)
    walk.needs(f"{path}.by", [column for column, _ in transform.sort_keys()[len(transform.per) :]])


def _group_by(walk: _Walk, path: str, transform: GroupBy) -> None:
    walk.needs(f"{path}.by", transform.by)
    output = {name: walk.schema.get(name) for name in transform.by}
    for name, written in transform.aggregations.items():
        where = f"{path}.aggregations.{name}"
        walk.new_name(where, name)
        if name in output:
            walk.report(where, f"the output {name!r} is also a group-by column")
        output[name] = _aggregation(walk, where, written)
    walk.schema, walk.complete = output, True


def _aggregation(walk: _Walk, where: str, written: Aggregation | str) -> TypeName | None:
    """An aggregation's result type; its problems reported where the spec writes them."""
    if isinstance(written, Aggregation):
        where = f"{where}.column"
        fn = {"mean": "avg"}.get(written.fn, written.fn)
        found = walk.need(where, written.column) if written.column else None
        shown = repr(written.column)
    else:
        try:
            call = parse_aggregate(written)
        except ExpressionError as exc:
            walk.report(where, str(exc))
            return None
        fn, shown = call.fn, repr(render(call.arg)) if call.arg else "*"
        found = walk.typed(where, call.arg) if call.arg else None
    if fn in ("sum", "avg") and found is not None and found not in NUMERIC:
        walk.report(where, f"{fn} needs a numeric column; {shown} is {found}")
        return None
    return _AGGREGATE_TYPES.get(fn, found)


def _join(walk: _Walk, path: str, transform: Join) -> None:
    right = walk.read(transform.source, f"{path}.source.path")
    for index, key in enumerate(transform.on):
        _join_key(walk, f"{path}.on[{index}]", key, right)
    if right is None:
        walk.complete = False
        return
    left = set(walk.schema)
    for name, found in right.items():
        if name in transform.on:
            continue
        target = f"{name}_right" if name in left else name
        if target in walk.schema:
            clash = f"the joined column {name!r} would be {target!r}, which is already a column"
            walk.report(f"{path}.source", clash)
        walk.schema[target] = found


def _join_key(walk: _Walk, path: str, key: str, right: dict[str, TypeName | None] | None) -> None:
    left = walk.need(path, key)
    if right is None:
        return
    if key not in right:
        theirs = ", ".join(right) or "none"
        walk.report(path, f"join key {key!r} is not a column of the joined source; it has {theirs}")
    elif left is not None and right[key] is not None and left != right[key]:
        walk.report(path, f"join key {key!r} is {left} here and {right[key]} in the joined source")


_TRANSFORMS: dict[type[Any], Callable[[_Walk, str, Any], None]] = {
    Filter: _filter,
    Select: _select,
    Rename: _rename,
    Cast: _cast,
    Derive: _derive,
    Dedupe: _dedupe,
    GroupBy: _group_by,
    Join: _join,
    Sort: _sort,
}


def _columns_check(walk: _Walk, path: str, check: NotNull | Unique) -> None:
    walk.needs(f"{path}.columns", check.columns)


def _range_check(walk: _Walk, path: str, check: Range) -> None:
    found = walk.need(f"{path}.column", check.column)
    if found is not None and found not in NUMERIC:
        walk.report(
            f"{path}.column", f"a range check needs a numeric column; {check.column!r} is {found}"
        )
    _bounds(walk, path, check.min, check.max)


def _bounds(walk: _Walk, path: str, low: float | None, high: float | None) -> None:
    if low is not None and high is not None and low > high:
        walk.report(path, f"min {low:g} is greater than max {high:g}")


def _accepted_check(walk: _Walk, path: str, check: AcceptedValues) -> None:
    walk.need(f"{path}.column", check.column)


def _regex_check(walk: _Walk, path: str, check: Regex) -> None:
    found = walk.need(f"{path}.column", check.column)
    if found is not None and found != "string":
        walk.report(
            f"{path}.column", f"a regex check needs a string column; {check.column!r} is {found}"
        )
    # RE2, as the check runs it; arrow compiles the pattern even for one empty string. Only a
    # spec with a regex check loads pyarrow here.
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    try:
        pc.match_substring_regex(pa.array([""], pa.large_string()), check.pattern)
    except pa.ArrowInvalid as exc:
        walk.report(f"{path}.pattern", str(exc))


def _row_count_check(walk: _Walk, path: str, check: RowCount) -> None:
    _bounds(walk, path, check.min, check.max)


_CHECKS: dict[type[Any], Callable[[_Walk, str, Any], None]] = {
    NotNull: _columns_check,
    Unique: _columns_check,
    Range: _range_check,
    AcceptedValues: _accepted_check,
    Regex: _regex_check,
    RowCount: _row_count_check,
}
