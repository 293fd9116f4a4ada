"""Which source columns a job needs: the reader converts only those (projection pushdown).

Walking the transforms in order, every column an expression or a key refers to is needed.
A ``select`` or an ``aggregate`` decides every later column, so the walk stops there; a job
with neither sends every column to its sink, so every column is needed. Columns that are not
needed are still split and counted by the reader (a record with too many or too few fields,
or with text not valid in its encoding, is still rejected), but their values are not
converted, so a malformed value in a column the job never uses does not reject its row.
"""

from collections.abc import Callable, Collection

from tuskflow.etl.expressions import columns, parse
from tuskflow.etl.group_by import aggregate_calls
from tuskflow.etl.spec import (
    Cast,
    Dedupe,
    Derive,
    Filter,
    GroupBy,
    JobSpec,
    Join,
    Rename,
    Select,
    Sort,
    SourceSpec,
)
from tuskflow.etl.types import TypeName

_Use = Callable[[Collection[str]], None]


def needed_columns(
    spec: JobSpec,
    schema: dict[str, TypeName],
    schema_of: Callable[[SourceSpec], dict[str, TypeName]],
) -> dict[str, TypeName]:
    """The part of the source's schema the job reads, in the source's order.

    ``schema_of`` gives a joined source's schema: a left column whose name the right side also
    has is read, since it decides that the right one is named ``<name>_right``.
    """
    origin: dict[str, str | None] = {name: name for name in schema}  # current name -> source
    needed: set[str] = set()

    def use(names: Collection[str]) -> None:
        needed.update(source for name in names if (source := origin.get(name)) is not None)

    for transform in spec.transforms:
        if isinstance(transform, Select):
            use(transform.columns)
            break
        if isinstance(transform, GroupBy):
            use(transform.by)
            for call in aggregate_calls(transform).values():
                use(columns(call.arg) if call.arg is not None else ())
            break
        if isinstance(transform, Join):
            right = schema_of(transform.source)
            use([*transform.on, *(name for name in origin if name in right)])
            origin.update(
                {_joined_name(name, origin): None for name in right if name not in transform.on}
            )
            continue
        _walk(transform, origin, use)
    else:
        use(list(origin))
    return {name: kind for name, kind in schema.items() if name in needed}


def _joined_name(name: str, left: dict[str, str | None]) -> str:
    return f"{name}_right" if name in left else name


def _walk(transform: object, origin: dict[str, str | None], use: _Use) -> None:
    if isinstance(transform, Filter):
        use(columns(parse(transform.where)))
    elif isinstance(transform, Derive):
        use(columns(parse(transform.expr)))
        origin[transform.column] = None
    elif isinstance(transform, Cast):
        use(list(transform.columns))
    elif isinstance(transform, Rename):
        renamed = {new: origin.pop(old, None) for old, new in transform.columns.items()}
        origin.update(renamed)
    elif isinstance(transform, Dedupe):
        use(transform.columns or list(origin))
    elif isinstance(transform, Sort):
        use([column for column, _ in transform.sort_keys()])
