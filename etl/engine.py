"""Runs a job spec on a Dask cluster: partitions of pyarrow data, staged output, atomic publish.

The source is split into partitions (byte ranges of a CSV, row groups of Parquet) and each
becomes a Dask task that reads it and applies the leading row-wise transforms. When the whole
job is row-wise (no group-by, dedupe, join, sort or unique check) the same task also checks
and stages its rows, so a worker holds one partition at a time. Otherwise the later steps run
as Dask tasks over the partial results: group-bys in two phases, dedupe and unique checks on
hash buckets of the key, joins against the second source read once and shared, sorts on the
gathered rows.

Nothing is visible until the end: the sink stages every partition, the reject policy and the
row count are checked, and only then is the output published at once. A failure or a cancel
discards the staging and leaves the previous output as it was.
"""

import operator
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import pyarrow as pa
import structlog
from distributed import Client, Future, as_completed

from tuskflow.etl import checks, group_by, remote, sources, transforms
from tuskflow.etl.context import JobContext
from tuskflow.etl.errors import JobCancelledError, JobFailedError, SpecError
from tuskflow.etl.partitions import (
    Piece,
    PieceSummary,
    concat_pieces,
    decode_rejects,
    encode_rows,
    split_by_key,
)
from tuskflow.etl.pruning import needed_columns
from tuskflow.etl.rejects import policy_breach
from tuskflow.etl.sinks import SinkWriter, open_sink
from tuskflow.etl.sources import Partition
from tuskflow.etl.spec import Dedupe, GroupBy, JobSpec, Join, Sort, SourceSpec
from tuskflow.etl.types import TypeName
from tuskflow.etl.validate import check_spec

log = structlog.get_logger(__name__)


class Observer(Protocol):
    """What the engine tells its caller while a job runs, and asks it."""

    def partition_done(self, index: int, rows_in: int, rejected: int) -> None:
        """A partition was read and transformed."""

    def cancelled(self) -> bool:
        """Whether the job was cancelled and should stop."""

    def rejected(self, rejects: pa.Table) -> None:
        """Every row the job rejected, told once before the job passes or fails on them."""

    def publishing(self) -> None:
        """The output is about to be made visible; raise to stop it (a cancel, a newer attempt)."""


@dataclass(frozen=True)
class JobPlan:
    """A validated spec, the source columns it reads, and the source's partitions."""

    spec: JobSpec
    schema: dict[str, TypeName]
    partitions: list[Partition]


@dataclass(frozen=True)
class JobResult:
    """What a finished job did; ``rejects`` holds each rejected row with its reason."""

    rows_in: int
    rows_out: int
    rejected: int
    output: str
    duration_s: float
    rejects: pa.Table

    def as_json(self) -> dict[str, Any]:
        """The result without the rejected rows, for the job's history."""
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "rejected": self.rejected,
            "output": self.output,
            "duration_s": round(self.duration_s, 3),
        }


def plan_job(spec: JobSpec) -> JobPlan:
    """Validate the spec against its source's files and split the source into partitions."""
    schemas: dict[str, dict[str, TypeName]] = {}

    def read_schema(source: SourceSpec) -> dict[str, TypeName]:
        if source.path not in schemas:
            schemas[source.path] = sources.read_schema(source)
        return schemas[source.path]

    problems = check_spec(spec, read_schema)
    if problems:
        raise SpecError.of(problems)
    schema = needed_columns(spec, read_schema(spec.source), read_schema)
    return JobPlan(spec, schema, sources.plan_partitions(spec.source))


def run_plan(plan: JobPlan, job: JobContext, client: Client, observer: Observer) -> JobResult:
    """Run a planned job to its published output, or raise and publish nothing."""
    started = time.monotonic()
    writer = open_sink(plan.spec.sink, job)
    writer.prepare()
    try:
        result = _run(plan, writer, client, observer)
    except BaseException:
        _discard(writer)
        raise
    return JobResult(**result, duration_s=time.monotonic() - started)


def _run(plan: JobPlan, writer: SinkWriter, client: Client, observer: Observer) -> dict[str, Any]:
    spec = plan.spec
    leading, later = _split_rowwise(spec)
    row_checks, unique_checks, count_checks = checks.split_checks(spec.checks)
    streaming = not later and not unique_checks
    # A group-by right after the row-wise steps runs its first phase in the reading task, so
    # a worker keeps a few group rows per partition instead of the partition.
    group_by_first = later[0] if later and isinstance(later[0], GroupBy) else None
    read = remote.map_tasks(
        client,
        _read_partition,
        plan.partitions,
        source=spec.source,
        schema=plan.schema,
        steps=leading,
        row_checks=row_checks if streaming else [],
        writer=writer if streaming else None,
        partial_of=group_by_first,
    )
    summaries = remote.map_tasks(client, Piece.summary, read)
    records, rejects, written = _follow_partitions(client, summaries, plan.partitions, observer)
    found = _Found(rejects)
    if streaming:
        rows_out = written
    else:
        tables = remote.map_tasks(client, _table_of, read)
        del read
        tables = _run_later_steps(client, tables, later, found, group_by_first)
        tables = _run_checks(client, tables, row_checks, unique_checks, found.rejects)
        rows_out = sum(client.gather(remote.map_tasks(client, _num_rows, tables)))
    # Rows read from every source: a joined source's rejects count against its rows too.
    rows_in = sum(records.values()) + found.joined_records
    numbered = decode_rejects(found.rejects, plan.partitions, records)
    all_rejects = _concat_rejects([numbered, *found.decoded])
    observer.rejected(all_rejects)
    _check_outcome(spec, rows_in, rows_out, all_rejects.num_rows, count_checks)
    if not streaming:
        writes = remote.map_tasks(client, _write, range(len(tables)), tables, writer=writer)
        rows_out = sum(client.gather(writes))
    observer.publishing()
    return {
        "rows_in": rows_in,
        "rows_out": rows_out,
        "rejected": all_rejects.num_rows,
        "output": writer.publish(),
        "rejects": all_rejects,
    }


def _discard(writer: SinkWriter) -> None:
    """Remove the staging; if that fails too, the original error matters more, and the job's
    next attempt removes the debris in ``prepare``."""
    try:
        writer.discard()
    except Exception as exc:
        log.warning("could not remove the staged output", error=str(exc))


def _split_rowwise(spec: JobSpec) -> tuple[list[Any], list[Any]]:
    transforms_ = list(spec.transforms)
    for position, transform in enumerate(transforms_):
        if not transforms.is_rowwise(transform):
            return transforms_[:position], transforms_[position:]
    return transforms_, []


def _follow_partitions(
    client: Client, futures: list[Future[Any]], partitions: list[Partition], observer: Observer
) -> tuple[dict[int, int], list[pa.Table], int]:
    """Records read per partition index, the rejects, rows staged; stop on a cancel."""
    index_of = {
        future.key: partition.index for future, partition in zip(futures, partitions, strict=True)
    }
    records: dict[int, int] = {}
    rejects: list[pa.Table] = []
    written = 0
    # Our clients are not the process's default one, so as_completed is told the loop.
    for future in as_completed(futures, loop=client.loop):
        piece: PieceSummary = future.result()
        records[index_of[future.key]] = piece.records
        rejects.append(piece.rejects)
        written += piece.rows_written
        observer.partition_done(index_of[future.key], piece.records, piece.rejects.num_rows)
        if observer.cancelled():
            for pending in futures:
                pending.cancel()
            raise JobCancelledError("the job was cancelled while it ran")
    return records, rejects, written


def _read_partition(
    partition: Partition,
    *,
    source: SourceSpec,
    schema: dict[str, TypeName],
    steps: list[Any],
    row_checks: list[Any],
    writer: SinkWriter | None,
    partial_of: GroupBy | None = None,
) -> Piece:
    """One Dask task: read a partition, apply the row-wise steps, then stage it (streaming)
    or group it (first phase) when told to."""
    read = sources.read_partition(source, partition, schema)
    table, rejects = encode_rows(read.table, read.rejects, partition.index)
    found = [rejects]
    for step in steps:
        table, rejected = transforms.apply_rowwise(table, step)
        found.append(rejected)
    if row_checks:
        table, rejected = checks.row_checks(table, row_checks)
        found.append(rejected)
    written = 0
    if writer is not None:
        written = writer.write(partition.index, transforms.drop_hidden(table))
        table = table.slice(0, 0)
    if partial_of is not None:
        table = group_by.partial(table, partial_of)
    piece = Piece(table, pa.concat_tables(found), read.records, written)
    del read
    # Hand the partition's buffers back to the system: arrow's allocator keeps freed memory
    # for reuse, which would hold a worker at its largest partition between tasks.
    pa.default_memory_pool().release_unused()
    return piece


def _table_of(piece: Piece) -> pa.Table:
    return piece.table


def _num_rows(table: pa.Table) -> int:
    return int(table.num_rows)


def _write(index: int, table: pa.Table, *, writer: SinkWriter) -> int:
    return writer.write(index, transforms.drop_hidden(table))


@dataclass
class _Found:
    """What the steps after reading find besides rows: rejects carrying row ids of the main
    source, rejects of a joined source (already numbered in its files), records joined."""

    rejects: list[pa.Table]
    decoded: list[pa.Table] = field(default_factory=list)
    joined_records: int = 0


def _run_later_steps(
    client: Client,
    tables: list[Future[Any]],
    steps: list[Any],
    found: _Found,
    pre_grouped: GroupBy | None,
) -> list[Future[Any]]:
    """The steps after the leading row-wise ones; what they reject is added to ``found``."""
    for position, step in enumerate(steps):
        if isinstance(step, GroupBy):
            partials = tables
            if not (position == 0 and step is pre_grouped):
                partials = remote.map_tasks(client, group_by.partial, tables, step=step)
            tables = [remote.submit_task(client, _final_group_by, step, *partials)]
        elif isinstance(step, Dedupe):
            tables = _by_key(client, tables, step.columns, partial(_dedupe, keys=step.columns))
        elif isinstance(step, Join):
            right = _read_whole(client, step.source, found)
            tables = remote.map_tasks(client, _join, tables, right=right, step=step)
        elif isinstance(step, Sort):
            if step.limit is not None:  # each partition keeps its own top rows first
                tables = remote.map_tasks(client, transforms.sort, tables, step=step)
            tables = [remote.submit_task(client, _sort, step, *tables)]
        else:
            pieces = remote.map_tasks(client, transforms.apply_rowwise, tables, transform=step)
            tables = _split_pairs(client, pieces, found.rejects)
    return tables


def _run_checks(
    client: Client,
    tables: list[Future[Any]],
    row_checks: list[Any],
    unique_checks: list[Any],
    rejects: list[pa.Table],
) -> list[Future[Any]]:
    if row_checks:
        pieces = remote.map_tasks(client, checks.row_checks, tables, checks=row_checks)
        tables = _split_pairs(client, pieces, rejects)
    for unique in unique_checks:
        check = partial(checks.unique_rejects, columns=unique.columns)
        tables = _split_pairs(client, _by_key(client, tables, unique.columns, check), rejects)
    return tables


def _split_pairs(
    client: Client, pairs: list[Future[Any]], rejects: list[pa.Table]
) -> list[Future[Any]]:
    """The kept tables of (kept, rejected) pairs; the rejected ones join ``rejects``."""
    rejects.extend(client.gather(remote.map_tasks(client, _second, pairs)))
    return remote.map_tasks(client, _first, pairs)


def _by_key(
    client: Client, tables: list[Future[Any]], keys: list[str], apply: Callable[[pa.Table], Any]
) -> list[Future[Any]]:
    """Hash-partition the rows by key into as many buckets as tables, in order, then apply."""
    buckets = len(tables)
    splits = remote.map_tasks(client, split_by_key, tables, keys=keys, buckets=buckets)
    # One small task per (split, bucket), so a bucket's task fetches its own rows only.
    return [
        remote.submit_task(
            client,
            _apply_bucket,
            apply,
            *[remote.submit_task(client, operator.getitem, split, bucket) for split in splits],
        )
        for bucket in range(buckets)
    ]


def _apply_bucket(apply: Callable[[pa.Table], Any], *pieces: pa.Table) -> Any:
    return apply(pa.concat_tables(pieces))


def _dedupe(table: pa.Table, keys: list[str]) -> pa.Table:
    return transforms.dedupe(table, keys)


def _final_group_by(step: GroupBy, *partials: pa.Table) -> pa.Table:
    return group_by.final(pa.concat_tables(partials), step)


def _sort(step: Sort, *tables: pa.Table) -> pa.Table:
    return transforms.sort(pa.concat_tables(tables), step)


def _join(table: pa.Table, *, right: pa.Table, step: Join) -> pa.Table:
    return transforms.join(table, right, step.on, step.how)


def _read_whole(client: Client, source: SourceSpec, found: _Found) -> Future[Any]:
    """A second source read whole onto one worker; its rejects and records go to ``found``."""
    partitions = sources.plan_partitions(source)
    read = remote.map_tasks(
        client,
        _read_partition,
        partitions,
        source=source,
        schema=sources.read_schema(source),
        steps=[],
        row_checks=[],
        writer=None,
    )
    summaries: list[PieceSummary] = client.gather(remote.map_tasks(client, Piece.summary, read))
    records = {p.index: piece.records for p, piece in zip(partitions, summaries, strict=True)}
    found.decoded.append(decode_rejects([p.rejects for p in summaries], partitions, records))
    found.joined_records += sum(records.values())
    return remote.submit_task(client, concat_pieces, *read)


def _first(pair: tuple[pa.Table, pa.Table]) -> pa.Table:
    return pair[0]


def _second(pair: tuple[pa.Table, pa.Table]) -> pa.Table:
    return pair[1]


def _check_outcome(
    spec: JobSpec, rows_in: int, rows_out: int, rejected: int, count_checks: list[Any]
) -> None:
    """Fail the job when the output's row count or the share of rejected rows is out of bounds."""
    for check in count_checks:
        problem = checks.row_count_problem(rows_out, check)
        if problem is not None:
            raise JobFailedError(f"row_count check failed: {problem}")
    breach = policy_breach(rejected, rows_in, spec.rejects.max_share)
    if breach is not None:
        raise JobFailedError(breach)


def _concat_rejects(tables: list[pa.Table]) -> pa.Table:
    return pa.concat_tables(tables, promote_options="permissive")
