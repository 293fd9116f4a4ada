"""Each transform on one pyarrow Table: row-wise ones, dedupe, join, sort (group_by.py: aggregate).

Row-wise transforms keep the hidden columns (``_tf_file``, ``_tf_row``) so a reject can name
its source; a group-by drops them. Rejects are tables of ``REJECT_SCHEMA``.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Literal

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tuskflow.etl.errors import Problem, SpecError
from tuskflow.etl.expressions import evaluate, parse
from tuskflow.etl.sources import HIDDEN_COLUMNS, REJECT_SCHEMA, strict_cast
from tuskflow.etl.spec import Cast, Derive, Filter, Rename, Select, Sort
from tuskflow.etl.types import TypeName

RowwiseTransform = Filter | Select | Rename | Cast | Derive

# Working columns of this module; the _tf_ prefix is reserved for tuskflow's own columns.
_INDEX = "_tf_index"
_RIGHT_INDEX = "_tf_right_index"


def is_rowwise(transform: object) -> bool:
    """Whether the transform works on each row alone, so each partition can run it apart."""
    return isinstance(transform, Filter | Select | Rename | Cast | Derive)


def apply_rowwise(table: pa.Table, transform: RowwiseTransform) -> tuple[pa.Table, pa.Table]:
    """The table after a row-wise transform, and the rows it rejected (only cast rejects)."""
    match transform:
        case Cast():
            return _cast(table, transform.columns)
        case Filter():
            mask = evaluate(parse(transform.where), table)
            return table.filter(mask, null_selection_behavior="drop"), empty_rejects()
        case Select():
            return _select(table, transform.columns), empty_rejects()
        case Rename():
            _require(table, transform.columns)
            names = [transform.columns.get(name, name) for name in table.column_names]
            return table.rename_columns(names), empty_rejects()
        case Derive():
            return _derive(table, transform.column, transform.expr), empty_rejects()


def _select(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    _require(table, columns)
    hidden = [name for name in HIDDEN_COLUMNS if name in table.column_names]
    return table.select([*columns, *(name for name in hidden if name not in columns)])


def _derive(table: pa.Table, column: str, expr: str) -> pa.Table:
    values = evaluate(parse(expr), table)
    if column in table.column_names:
        return table.set_column(table.column_names.index(column), column, values)
    return table.append_column(column, values)


def _cast(table: pa.Table, columns: Mapping[str, TypeName]) -> tuple[pa.Table, pa.Table]:
    _require(table, columns)
    reasons: dict[int, list[str]] = {}
    converted: dict[str, Any] = {}
    for name, type_name in columns.items():
        values = table.column(name)
        try:
            converted[name] = strict_cast(values, type_name)
        except pa.ArrowInvalid:
            for index in _unconvertible(values, type_name):
                reason = f"cast {name}: {show(values[index].as_py())} is not {_a(type_name)}"
                reasons.setdefault(index, []).append(reason)
        except pa.ArrowNotImplementedError:
            problem = f"cannot cast column {name!r} of type {values.type} to {type_name}"
            raise SpecError.of([Problem("", problem)]) from None
    kept, rejects = reject_rows(table, reasons)
    for name, type_name in columns.items():
        values = converted[name] if not reasons else strict_cast(kept[name], type_name)
        kept = kept.set_column(kept.column_names.index(name), name, values)
    return kept, rejects


def _unconvertible(values: pa.ChunkedArray, target: TypeName, offset: int = 0) -> list[int]:
    """Positions of the values that do not cast, found by halving: few casts when few fail."""
    try:
        strict_cast(values, target)
    except pa.ArrowInvalid:
        if len(values) == 1:
            return [offset]
        half = len(values) // 2
        head = _unconvertible(values.slice(0, half), target, offset)
        return head + _unconvertible(values.slice(half), target, offset + half)
    return []


def _a(type_name: str) -> str:
    return f"an {type_name}" if type_name[0] in "aeiou" else f"a {type_name}"


def dedupe(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    """The first row (in table order) of each distinct key; no columns means all visible ones."""
    keys = list(columns) or visible_columns(table)
    _require(table, keys)
    indexed = table.select(keys).append_column(_INDEX, _arange(table.num_rows))
    grouped = indexed.group_by(keys, use_threads=False).aggregate([(_INDEX, "min")])
    firsts = grouped.column(f"{_INDEX}_min")
    return table.take(firsts.take(pc.sort_indices(firsts)))


def join(
    left: pa.Table, right: pa.Table, on: Sequence[str], how: Literal["inner", "left"]
) -> pa.Table:
    """Left rows in their order joined to matching right rows (in theirs); keys appear once."""
    _require(left, on)
    _require(right, on)
    right = drop_hidden(right)
    names = [
        f"{name}_right" if name in left.column_names and name not in on else name
        for name in right.column_names
    ]
    right = right.rename_columns(names).append_column(_RIGHT_INDEX, _arange(right.num_rows))
    joined = left.append_column(_INDEX, _arange(left.num_rows)).join(
        right, keys=list(on), join_type="inner" if how == "inner" else "left outer"
    )
    # pyarrow's hash join emits rows in no set order; the indexes restore both sides' order.
    order = pc.sort_indices(joined, sort_keys=[(_INDEX, "ascending"), (_RIGHT_INDEX, "ascending")])
    return joined.take(order).select([*left.column_names, *(n for n in names if n not in on)])


def sort(table: pa.Table, step: Sort) -> pa.Table:
    """The rows in the step's order (stable, nulls last), cut to its limit, of each group too.

    Sorting a part and cutting it to the limit keeps every row the whole could keep, so the
    engine runs this on each partition first and then on the union of what they kept.
    """
    keys = step.sort_keys()
    _require(table, [column for column, _ in keys])
    order = [(column, "descending" if down else "ascending") for column, down in keys]
    ordered = table.sort_by(order)
    if step.limit is None:
        return ordered
    if not step.per:
        return ordered.slice(0, step.limit)
    return ordered.filter(pa.array(_rank_in_group(ordered, step.per) < step.limit))


def _rank_in_group(ordered: pa.Table, per: Sequence[str]) -> np.ndarray:
    """Each row's place within its group, for a table already sorted by the ``per`` columns."""
    rows = ordered.num_rows
    starts = np.zeros(rows, dtype=bool)
    if rows:
        starts[0] = True
    for column in per:
        values = ordered.column(column)
        before, after = values.slice(0, rows - 1), values.slice(1)
        changed = pc.or_kleene(
            pc.not_equal(after, before), pc.xor(pc.is_null(after), pc.is_null(before))
        )
        starts[1:] |= pc.fill_null(changed, False).to_numpy(zero_copy_only=False)
    positions = np.arange(rows)
    group_start = np.maximum.accumulate(np.where(starts, positions, 0))
    return positions - group_start


def drop_hidden(table: pa.Table) -> pa.Table:
    """The table without tuskflow's hidden columns."""
    return table.drop_columns([name for name in HIDDEN_COLUMNS if name in table.column_names])


def visible_columns(table: pa.Table) -> list[str]:
    """The table's column names, hidden ones left out."""
    return [name for name in table.column_names if name not in HIDDEN_COLUMNS]


def empty_rejects() -> pa.Table:
    """A rejects table with no rows."""
    return REJECT_SCHEMA.empty_table()


def reject_rows(table: pa.Table, reasons: Mapping[int, Sequence[str]]) -> tuple[pa.Table, pa.Table]:
    """The table without the rows at ``reasons``' positions, and those rows as rejects.

    A row's reasons are joined by "; "; its record is the row's visible columns as JSON.
    """
    if not reasons:
        return table, empty_rejects()
    positions = sorted(reasons)
    keep = np.ones(table.num_rows, dtype=bool)
    keep[positions] = False
    rows = table.take(pa.array(positions, pa.int64()))
    records = [orjson.dumps(row, default=str).decode() for row in drop_hidden(rows).to_pylist()]
    rejects = pa.table(
        {
            "source_file": _hidden(rows, "_tf_file", REJECT_SCHEMA.field("source_file").type),
            "row": _hidden(rows, "_tf_row", REJECT_SCHEMA.field("row").type),
            "reason": ["; ".join(reasons[position]) for position in positions],
            "record": records,
        },
        schema=REJECT_SCHEMA,
    )
    return table.filter(pa.array(keep)), rejects


def _hidden(rows: pa.Table, name: str, arrow_type: pa.DataType) -> pa.ChunkedArray | pa.Array:
    if name in rows.column_names:
        return pc.cast(rows.column(name), arrow_type)
    return pa.nulls(rows.num_rows, arrow_type)


def show(value: object) -> str:
    """A value as a reject reason shows it: strings quoted, null as null, dates in ISO."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _arange(count: int) -> pa.Array:
    return pa.array(np.arange(count, dtype=np.int64))


def _require(table: pa.Table, columns: Iterable[str]) -> None:
    missing = [name for name in columns if name not in table.column_names]
    if missing:
        have = ", ".join(visible_columns(table))
        problems = [Problem("", f"no column {name!r} (the table has {have})") for name in missing]
        raise SpecError.of(problems)
