"""The aggregate step (``op: aggregate``): its aggregations, and its two-phase plan.

An aggregation is SQL text (``sum(price * (1 - discount))``, ``count(distinct shop)``,
``count(*)``, ``avg(x)``) or the older mapping ``{fn: sum, column: price}``; both become an
``AggregateCall``. SQL semantics: ``count(x)`` and ``count(distinct x)`` skip nulls, ``count(*)``
counts rows, ``sum``, ``avg``, ``min`` and ``max`` of no values are null. No ``by`` keys is a
global aggregate: one row, even over no rows at all.

Two phases: each partition computes partial results by key in the task that read it
(``partial``), and one task combines them (``final``). A distinct count's partial is each
group's list of distinct values, so the final count is exact, not an estimate.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from tuskflow.etl.expressions import AggregateCall, Column, evaluate, parse_aggregate
from tuskflow.etl.spec import Aggregation, GroupBy

# Working names; the _tf_ prefix is reserved for tuskflow's own columns.
_ALL = "_tf_all"  # the one key of a global aggregate
_ONLY_VALID = pc.CountOptions(mode="only_valid")


def aggregate_calls(step: GroupBy) -> dict[str, AggregateCall]:
    """Each output column's aggregation; ExpressionError for SQL text that is not one."""
    return {name: _call(written) for name, written in step.aggregations.items()}


def _call(written: Aggregation | str) -> AggregateCall:
    if isinstance(written, str):
        return parse_aggregate(written)
    fn = {"mean": "avg"}.get(written.fn, written.fn)
    return AggregateCall(fn, Column(written.column) if written.column else None)


@dataclass(frozen=True)
class _Part:
    """One partial result of an aggregation: pyarrow's function now, and the one combining."""

    fn: str
    options: pc.FunctionOptions | None
    combine: str


_PARTS: dict[str, tuple[_Part, ...]] = {
    "count": (_Part("count", _ONLY_VALID, "sum"),),
    "count(*)": (_Part("count", pc.CountOptions(mode="all"), "sum"),),
    "count_distinct": (_Part("distinct", _ONLY_VALID, "count_distinct"),),
    "sum": (_Part("sum", None, "sum"),),
    "avg": (_Part("sum", None, "sum"), _Part("count", _ONLY_VALID, "sum")),
    "min": (_Part("min", None, "min"),),
    "max": (_Part("max", None, "max"),),
}


def _parts(call: AggregateCall) -> tuple[_Part, ...]:
    return _PARTS["count(*)" if call.arg is None else call.fn]


def _value(i: int) -> str:
    return f"_tf_v{i}"


def _keys(step: GroupBy) -> list[str]:
    return list(step.by) or [_ALL]


def partial(table: pa.Table, step: GroupBy) -> pa.Table:
    """One partition's share: its keys and each aggregation's partial results."""
    working = {key: table.column(key) for key in step.by}
    if not step.by:
        working[_ALL] = pa.repeat(pa.scalar(0, pa.int8()), table.num_rows)
    requests: list[tuple[str, str, pc.FunctionOptions | None]] = []
    for i, call in enumerate(aggregate_calls(step).values()):
        # Values under a working name, so output names cannot clash with keys or each other.
        if call.arg is None:
            values = pa.repeat(pa.scalar(True), table.num_rows)
        else:
            values = evaluate(call.arg, table)
        if call.fn == "avg":
            values = pc.cast(values, pa.float64(), safe=False)
        working[_value(i)] = values
        requests += [(_value(i), part.fn, part.options) for part in _parts(call)]
    keys = _keys(step)
    grouped = pa.table(working).group_by(keys, use_threads=False).aggregate(requests)
    return grouped.select([*keys, *(f"{column}_{fn}" for column, fn, _ in requests)])


def final(partials: pa.Table, step: GroupBy) -> pa.Table:
    """The step's output from the concatenated partials: keys, then each aggregation."""
    calls = aggregate_calls(step)
    keys = _keys(step)
    requests: list[tuple[str, str, pc.FunctionOptions | None]] = []
    for i, call in enumerate(calls.values()):
        for part in _parts(call):
            options = _ONLY_VALID if part.combine == "count_distinct" else None
            requests.append((f"{_value(i)}_{part.fn}", part.combine, options))
    rows = _exploded(partials, [name for name, fn, _ in requests if fn == "count_distinct"])
    grouped = rows.group_by(keys, use_threads=False).aggregate(requests)
    columns = {key: grouped.column(key) for key in step.by}
    for i, (name, call) in enumerate(calls.items()):
        parts = [grouped.column(f"{_value(i)}_{p.fn}_{p.combine}") for p in _parts(call)]
        columns[name] = pc.divide(parts[0], parts[1]) if call.fn == "avg" else parts[0]
    output = pa.table(columns)
    if not step.by and grouped.num_rows == 0:
        return _of_no_rows(output, calls)
    return output


def _exploded(partials: pa.Table, distinct: Sequence[str]) -> pa.Table:
    """The partials with each distinct-value list spread over rows of its own.

    Each list's values become rows holding the group's keys and that one value, every other
    partial null there; the partial rows keep the rest, their lists null. So one group-by
    combines all: sums and counts skip the nulls, and count_distinct counts each value once.
    """
    if not distinct:
        return partials
    base = partials
    for name in distinct:
        value_type = partials.schema.field(name).type.value_type
        base = base.set_column(base.column_names.index(name), name, pa.nulls(len(base), value_type))
    pieces = [base]
    for name in distinct:
        lists = partials.column(name).combine_chunks()
        spread = partials.take(pc.list_parent_indices(lists))
        columns = {
            other: spread.column(other)
            if _is_key(other)
            else pa.nulls(len(spread), base.schema.field(other).type)
            for other in base.column_names
        }
        columns[name] = pc.list_flatten(lists)
        pieces.append(pa.table(columns, schema=base.schema))
    return pa.concat_tables(pieces)


def _is_key(name: str) -> bool:
    return not name.startswith("_tf_v")


def _of_no_rows(output: pa.Table, calls: dict[str, AggregateCall]) -> pa.Table:
    """A global aggregate over no rows: one row, counts 0 and every other aggregation null."""
    values = {
        name: pa.array([0 if calls[name].fn.startswith("count") else None], field.type)
        for name, field in zip(output.column_names, output.schema, strict=True)
    }
    return pa.table(values, schema=output.schema)
