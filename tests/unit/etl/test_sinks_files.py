"""The Parquet and CSV sinks: staged per partition, published whole, never seen in part."""

import csv
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tuskflow.config.errors import PermanentError
from tuskflow.etl.context import JobContext
from tuskflow.etl.errors import SinkConflictError, SinkError
from tuskflow.etl.sinks import SinkWriter, open_sink
from tuskflow.etl.spec import CsvSink, EventStoreSink, ParquetSink, PostgresSink, Sink


def _job(job_id: str = "job-1", attempt: int = 1) -> JobContext:
    return JobContext(job_id, attempt, None)


def _orders(*ids: int, country: str = "FR") -> pa.Table:
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "country": pa.array([country] * len(ids), pa.large_string()),
            "amount": pa.array([i * 1.5 for i in ids], pa.float64()),
        }
    )


def _parquet(tmp_path: Path, **options: object) -> ParquetSink:
    return ParquetSink.model_validate({"kind": "parquet", "path": str(tmp_path / "out"), **options})


def _csv(tmp_path: Path, **options: object) -> CsvSink:
    return CsvSink.model_validate({"kind": "csv", "path": str(tmp_path / "out.csv"), **options})


def _run(writer: SinkWriter, *tables: pa.Table) -> str:
    writer.prepare()
    for index, table in enumerate(tables):
        writer.write(index, table)
    return writer.publish()


def _shipped(writer: SinkWriter) -> SinkWriter:
    """The copy a Dask worker gets: the writer pickled and unpickled."""
    shipped: SinkWriter = pickle.loads(pickle.dumps(writer))  # noqa: S301 (our own bytes)
    return shipped


def _ids(path: Path) -> list[int]:
    return sorted(pq.read_table(path).column("id").to_pylist())


def _staging_entries(tmp_path: Path, name: str) -> list[str]:
    folder = tmp_path / f".{name}.tuskflow"
    return sorted(entry.name for entry in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize(
    "spec",
    [
        ParquetSink(kind="parquet", path="out", partition_by=["a"]),
        CsvSink(kind="csv", path="out.csv"),
        PostgresSink(kind="postgres", table="s.t", mode="append"),
        EventStoreSink(kind="eventstore", stream_id="a", event_type="T"),
    ],
)
def test_every_writer_survives_pickling_whole_as_dask_ships_it(spec: Sink, tmp_path: Path) -> None:
    job = JobContext("job-1", 1, "postgresql://u@h/db")
    writer = open_sink(spec, job)

    assert _shipped(writer) == writer


# Parquet


def test_parquet_publishes_each_partition_once_and_a_rewrite_replaces_its_index(
    tmp_path: Path,
) -> None:
    writer = open_sink(_parquet(tmp_path), _job())
    writer.prepare()
    worker = _shipped(writer)
    worker.write(0, _orders(1, 2))
    worker.write(1, _orders(3, 4, 5))
    worker.write(2, _orders(6))
    worker.write(1, _orders(3, 4))  # Dask retried partition 1

    location = writer.publish()

    assert location == str(tmp_path / "out")
    assert _ids(tmp_path / "out") == [1, 2, 3, 4, 6]
    assert (tmp_path / "out").is_symlink()


def test_parquet_is_hive_partitioned_and_a_rewrite_drops_the_index_old_partition_values(
    tmp_path: Path,
) -> None:
    writer = open_sink(_parquet(tmp_path, partition_by=["country", "id"]), _job())
    writer.prepare()
    writer.write(0, _orders(1, 2, country="FR"))
    writer.write(1, _orders(3, country="DE"))
    writer.write(2, _orders(4, country="FR"))
    writer.write(1, _orders(3, country="US"))

    writer.publish()

    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["country=FR", "country=US"]
    table = pq.read_table(out)
    pairs = zip(table.column("id").to_pylist(), table.column("country").to_pylist(), strict=True)
    assert sorted(pairs) == [(1, "FR"), (2, "FR"), (3, "US"), (4, "FR")]


def test_parquet_publishes_nothing_a_killed_write_left_half_done(tmp_path: Path) -> None:
    writer = open_sink(_parquet(tmp_path), _job())
    writer.prepare()
    staging = tmp_path / ".out.tuskflow" / _staging_entries(tmp_path, "out")[0]
    (staging / ".part-000000-0.parquet.dead0000.tmp").write_bytes(b"PAR1 cut short")
    writer.write(0, _orders(1))

    writer.publish()

    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["part-000000-0.parquet"]


def test_parquet_uses_the_spec_compression(tmp_path: Path) -> None:
    _run(open_sink(_parquet(tmp_path, compression="zstd"), _job()), _orders(1))

    (part,) = (tmp_path / "out").glob("*.parquet")
    assert pq.ParquetFile(part).metadata.row_group(0).column(0).compression == "ZSTD"


def test_parquet_empty_partitions_still_publish_the_columns(tmp_path: Path) -> None:
    _run(open_sink(_parquet(tmp_path), _job()), _orders(), _orders(7), _orders())

    table = pq.read_table(tmp_path / "out")
    assert table.column_names == ["id", "country", "amount"]
    assert table.column("id").to_pylist() == [7]


def test_parquet_rerun_replaces_the_output_whole_keeping_the_old_version_one_publish_more(
    tmp_path: Path,
) -> None:
    _run(open_sink(_parquet(tmp_path), _job("job-1")), _orders(1), _orders(2))
    first = os.readlink(tmp_path / "out")

    _run(open_sink(_parquet(tmp_path), _job("job-2")), _orders(9))
    kept = _staging_entries(tmp_path, "out")
    _run(open_sink(_parquet(tmp_path), _job("job-3")), _orders(5))

    assert _ids(tmp_path / "out") == [5]
    # A reader still in job-1's files could finish them while job-2 was current.
    assert Path(first).name in kept
    assert [name.split(".")[0] for name in _staging_entries(tmp_path, "out")] == [
        "_previous",
        "job-2",
        "job-3",
    ]


def test_parquet_discard_leaves_the_published_output_as_it_was(tmp_path: Path) -> None:
    _run(open_sink(_parquet(tmp_path), _job("job-1")), _orders(1, 2))
    published = os.readlink(tmp_path / "out")
    failing = open_sink(_parquet(tmp_path), _job("job-2"))
    failing.prepare()
    failing.write(0, _orders(8))

    failing.discard()

    assert os.readlink(tmp_path / "out") == published
    assert _ids(tmp_path / "out") == [1, 2]
    assert _staging_entries(tmp_path, "out") == [Path(published).name]


def test_parquet_prepare_removes_what_a_killed_attempt_staged(tmp_path: Path) -> None:
    killed = open_sink(_parquet(tmp_path), _job(attempt=1))
    killed.prepare()
    killed.write(0, _orders(1))  # then SIGKILL: neither publish nor discard runs
    retry = open_sink(_parquet(tmp_path), _job(attempt=2))

    retry.prepare()

    assert [name.split(".")[1] for name in _staging_entries(tmp_path, "out")] == ["2"]
    retry.write(0, _orders(2))
    retry.publish()
    assert _ids(tmp_path / "out") == [2]


def test_parquet_retry_with_the_same_attempt_keeps_the_published_version_until_it_swaps(
    tmp_path: Path,
) -> None:
    _run(open_sink(_parquet(tmp_path), _job()), _orders(1))
    again = open_sink(_parquet(tmp_path), _job())

    again.prepare()
    assert _ids(tmp_path / "out") == [1]
    again.write(0, _orders(1))
    again.publish()

    assert _ids(tmp_path / "out") == [1]
    assert len(_staging_entries(tmp_path, "out")) == 3  # current, previous, and its link


def test_parquet_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep me")

    with pytest.raises(SinkConflictError, match="not written by tuskflow") as caught:
        open_sink(_parquet(tmp_path), _job()).prepare()

    assert isinstance(caught.value, PermanentError)  # a retry would meet the folder again

    assert (tmp_path / "out" / "mine.txt").read_text() == "keep me"


def test_parquet_takes_over_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()

    _run(open_sink(_parquet(tmp_path), _job()), _orders(1))

    assert _ids(tmp_path / "out") == [1]


def test_parquet_write_without_prepare_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="prepare"):
        open_sink(_parquet(tmp_path), _job()).write(0, _orders(1))


# CSV


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_csv_publishes_one_header_then_partitions_in_index_order_once_each(
    tmp_path: Path,
) -> None:
    writer = open_sink(_csv(tmp_path), _job())
    writer.prepare()
    worker = _shipped(writer)
    worker.write(2, _orders(6))
    worker.write(0, _orders(1, 2))
    worker.write(1, _orders(3, 4, 5))
    worker.write(1, _orders(3, 4))  # Dask retried partition 1

    location = writer.publish()

    assert location == str(tmp_path / "out.csv")
    rows = _csv_rows(tmp_path / "out.csv")
    assert rows[0] == ["id", "country", "amount"]
    assert [row[0] for row in rows[1:]] == ["1", "2", "3", "4", "6"]
    assert _staging_entries(tmp_path, "out.csv") == []


def test_csv_uses_the_spec_delimiter_and_quotes_what_needs_it(tmp_path: Path) -> None:
    table = pa.table({"name": pa.array(['a;"b"', None], pa.large_string()), "n": [1, 2]})

    _run(open_sink(_csv(tmp_path, delimiter=";"), _job()), table)

    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle, delimiter=";")) == [["name", "n"], ['a;"b"', "1"], ["", "2"]]


def test_csv_empty_partitions_leave_just_the_header(tmp_path: Path) -> None:
    _run(open_sink(_csv(tmp_path), _job()), _orders(), _orders())

    assert _csv_rows(tmp_path / "out.csv") == [["id", "country", "amount"]]


def test_csv_discard_leaves_the_published_file_as_it_was(tmp_path: Path) -> None:
    _run(open_sink(_csv(tmp_path), _job("job-1")), _orders(1))
    before = (tmp_path / "out.csv").read_bytes()
    failing = open_sink(_csv(tmp_path), _job("job-2"))
    failing.prepare()
    failing.write(0, _orders(8, 9))

    failing.discard()

    assert (tmp_path / "out.csv").read_bytes() == before
    assert _staging_entries(tmp_path, "out.csv") == []


def test_csv_prepare_removes_what_a_killed_attempt_staged(tmp_path: Path) -> None:
    killed = open_sink(_csv(tmp_path), _job(attempt=1))
    killed.prepare()
    killed.write(0, _orders(1))
    retry = open_sink(_csv(tmp_path), _job(attempt=2))

    retry.prepare()

    assert [name.split(".")[1] for name in _staging_entries(tmp_path, "out.csv")] == ["2"]
    retry.write(0, _orders(2))
    retry.publish()
    assert [row[0] for row in _csv_rows(tmp_path / "out.csv")] == ["id", "2"]


def test_csv_rerun_replaces_the_file_whole(tmp_path: Path) -> None:
    _run(open_sink(_csv(tmp_path), _job("job-1")), _orders(1, 2, 3))

    _run(open_sink(_csv(tmp_path), _job("job-2")), _orders(9))

    assert [row[0] for row in _csv_rows(tmp_path / "out.csv")] == ["id", "9"]


def test_csv_partitions_with_other_columns_fail_and_keep_the_published_file(
    tmp_path: Path,
) -> None:
    _run(open_sink(_csv(tmp_path), _job("job-1")), _orders(1))
    before = (tmp_path / "out.csv").read_bytes()
    writer = open_sink(_csv(tmp_path), _job("job-2"))
    writer.prepare()
    writer.write(0, _orders(2))
    writer.write(1, _orders(3).drop_columns(["amount"]))

    with pytest.raises(SinkConflictError, match="different columns") as caught:
        writer.publish()

    assert isinstance(caught.value, PermanentError)
    assert (tmp_path / "out.csv").read_bytes() == before


def test_csv_refuses_a_folder_as_its_target(tmp_path: Path) -> None:
    (tmp_path / "out.csv").mkdir()

    with pytest.raises(SinkConflictError, match="is a folder") as caught:
        open_sink(_csv(tmp_path), _job()).prepare()

    assert isinstance(caught.value, PermanentError)


@pytest.mark.parametrize(
    ("kind", "options"),
    [("parquet", {}), ("parquet", {"partition_by": ["country"]}), ("csv", {})],
)
def test_a_write_of_an_earlier_attempt_after_the_next_prepare_fails_and_is_not_published(
    kind: str, options: dict[str, object], tmp_path: Path
) -> None:
    sink = _parquet(tmp_path, **options) if kind == "parquet" else _csv(tmp_path, **options)
    killed = open_sink(sink, _job(attempt=1))
    killed.prepare()
    killed.write(0, _orders(1))  # the driver dies; Dask keeps running this attempt's tasks
    retry = open_sink(sink, _job(attempt=2))
    retry.prepare()

    with pytest.raises(SinkError, match="prepare"):
        killed.write(1, _orders(7))
    retry.write(0, _orders(2))
    location = Path(retry.publish())

    ids = _ids(location) if kind == "parquet" else [int(r[0]) for r in _csv_rows(location)[1:]]
    assert ids == [2]


def test_job_ids_that_share_a_prefix_do_not_clean_each_others_staging(tmp_path: Path) -> None:
    other = open_sink(_csv(tmp_path), _job("job-1-b"))
    other.prepare()
    other.write(0, _orders(5))

    open_sink(_csv(tmp_path), _job("job-1")).prepare()

    other.publish()
    assert [row[0] for row in _csv_rows(tmp_path / "out.csv")] == ["id", "5"]


def test_job_ids_unsafe_in_file_names_stage_under_a_safe_distinct_name(tmp_path: Path) -> None:
    slash = open_sink(_parquet(tmp_path), _job("a/b"))
    underscore = open_sink(_parquet(tmp_path), _job("a_b"))
    slash.prepare()
    underscore.prepare()

    names = _staging_entries(tmp_path, "out")
    assert len(names) == 2
    assert all("/" not in name and name.startswith("a_b") for name in names)


@pytest.mark.parametrize("make", [_parquet, _csv])
def test_an_output_path_under_a_file_fails_at_once_naming_that_path_not_the_staging(
    tmp_path: Path, make: Callable[[Path], Sink]
) -> None:
    # Written after submit checked it (the file appeared since): a retry meets it again, so it
    # is permanent, and the message names the path the spec gave, not our staging folder.
    (tmp_path / "blocker").write_text("a file")
    writer = open_sink(make(tmp_path / "blocker"), _job())

    with pytest.raises(SinkConflictError) as caught:
        writer.prepare()

    assert isinstance(caught.value, PermanentError)
    assert f"{tmp_path / 'blocker'} is a file, not a folder" in str(caught.value)
    assert ".tuskflow" not in str(caught.value)
