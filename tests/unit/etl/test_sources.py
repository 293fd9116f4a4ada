"""Sources: finding files, planning partitions, inferring schemas and reading partitions."""

import datetime as dt
import gzip
import itertools
import json
import pickle
from pathlib import Path
from typing import Any

import fastavro
import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tuskflow.etl.arrow_types import ARROW_TYPES
from tuskflow.etl.errors import SourceError
from tuskflow.etl.sources import (
    HIDDEN_COLUMNS,
    REJECT_SCHEMA,
    Partition,
    ReadResult,
    list_files,
    plan_partitions,
    read_partition,
    read_schema,
)
from tuskflow.etl.sources._files import read_range
from tuskflow.etl.spec import SourceSpec
from tuskflow.etl.types import TypeName

Schema = dict[str, TypeName]


def _source(path: Path | str, format_: str = "csv", **fields: Any) -> SourceSpec:
    return SourceSpec.model_validate({"format": format_, "path": str(path), **fields})


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _read_all(source: SourceSpec, schema: Schema | None = None) -> list[ReadResult]:
    schema = schema if schema is not None else read_schema(source)
    return [read_partition(source, p, schema) for p in plan_partitions(source)]


def _rows(result: ReadResult) -> list[dict[str, Any]]:
    visible = [name for name in result.table.column_names if name not in HIDDEN_COLUMNS]
    rows: list[dict[str, Any]] = result.table.select(visible).to_pylist()
    return rows


def _rejects(result: ReadResult) -> list[tuple[int, str, str]]:
    return [(r["row"], r["reason"], r["record"]) for r in result.rejects.to_pylist()]


def _row_numbers(result: ReadResult) -> list[int]:
    numbers: list[int] = result.table.column("_tf_row").to_pylist()
    return numbers


# --- finding files -----------------------------------------------------------------------------


def test_a_folder_lists_the_files_of_its_format_sorted(tmp_path: Path) -> None:
    for name in ("b.csv", "a.csv", "c.csv.gz", "notes.md", ".hidden.csv", "d.TSV"):
        (tmp_path / name).write_bytes(b"x\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "e.csv").write_bytes(b"x\n")

    found = list_files(_source(tmp_path))

    assert found == [str(tmp_path / n) for n in ("a.csv", "b.csv", "c.csv.gz", "d.TSV")]


def test_a_glob_lists_the_files_it_matches(tmp_path: Path) -> None:
    for name in ("sales-1.csv", "sales-2.csv", "other.csv"):
        (tmp_path / name).write_bytes(b"x\n")

    found = list_files(_source(tmp_path / "sales-*.csv"))

    assert found == [str(tmp_path / "sales-1.csv"), str(tmp_path / "sales-2.csv")]


def test_a_missing_path_is_an_error_naming_path_and_format(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.parquet"

    with pytest.raises(SourceError, match=r"parquet.*nowhere\.parquet"):
        list_files(_source(missing, "parquet"))


@pytest.mark.parametrize("pattern", ["", "*.avro"])
def test_nothing_matching_is_an_error(tmp_path: Path, pattern: str) -> None:
    (tmp_path / "a.csv").write_bytes(b"x\n")

    with pytest.raises(SourceError, match="no avro files match"):
        list_files(_source(tmp_path / pattern, "avro"))


# --- planning partitions -----------------------------------------------------------------------


@pytest.mark.parametrize("width", [16, 17, 1000])
def test_a_split_csv_reads_every_row_once_in_order(tmp_path: Path, width: int) -> None:
    # Fixed-width lines: 16 puts a line start exactly on each 1 MiB boundary, 17 never does.
    rows = (3 * (1 << 20)) // width + 123
    digits = len(str(rows))
    lines = [f"{n:0{digits}d},{'x' * (width - digits - 2)}\n" for n in range(1, rows + 1)]
    path = _write(tmp_path / "big.csv", "".join(lines))
    columns: Schema = {"id": "int", "pad": "string"}
    source = _source(path, partition_mb=1, columns=columns, options={"header": False})

    partitions = plan_partitions(source)
    results = _read_all(source)

    assert len(partitions) == 4
    assert [p.index for p in partitions] == [0, 1, 2, 3]
    assert [p.byte_start for p in partitions] == [0, 1 << 20, 2 << 20, 3 << 20]
    assert [p.byte_end for p in partitions] == [1 << 20, 2 << 20, 3 << 20, None]
    ids = [row["id"] for result in results for row in _rows(result)]
    assert ids == list(range(1, rows + 1))
    assert [r.records for r in results] == [r.table.num_rows for r in results]
    for result in results:
        assert _row_numbers(result) == list(range(1, result.records + 1))
        assert result.rejects.num_rows == 0


def test_rejects_in_a_split_csv_number_rows_so_prefix_sums_give_file_rows(tmp_path: Path) -> None:
    total = 200_000
    bad = {7, 60_001, 123_456, 199_999}
    lines = [f"{n},{'abc' if n in bad else n * 2},filler-{n:08d}" for n in range(1, total + 1)]
    path = _write(tmp_path / "big.csv", "id,double,note\n" + "\n".join(lines))
    source = _source(path, partition_mb=1)

    results = _read_all(source, {"id": "int", "double": "int", "note": "string"})

    assert len(results) >= 4
    before = 0
    found: dict[int, str] = {}
    for result in results:
        for number, row in zip(_row_numbers(result), _rows(result), strict=True):
            assert before + number == row["id"]
        for number, reason, record in _rejects(result):
            found[before + number] = reason
            assert record.startswith(f"{before + number},abc,")
        before += result.records
    assert before == total
    assert found == {n: "double: 'abc' is not an int" for n in bad}
    assert sum(r.table.num_rows for r in results) == total - len(bad)


def test_whole_file_formats_are_one_partition_a_file(tmp_path: Path) -> None:
    for name in ("a.csv.gz", "b.csv.gz"):
        with gzip.open(tmp_path / name, "wt") as stream:
            stream.write("x\n" + "1\n" * 1000)

    partitions = plan_partitions(_source(tmp_path, partition_mb=1))

    assert partitions == [
        Partition(str(tmp_path / "a.csv.gz"), 0, 0, None, None),
        Partition(str(tmp_path / "b.csv.gz"), 1, 0, None, None),
    ]


def test_a_utf16_csv_is_read_whole_and_transcoded(tmp_path: Path) -> None:
    path = _write(tmp_path / "wide.csv", "x,név\n" + "1,é\n" * 600_000, "utf-16")
    source = _source(path, partition_mb=1, options={"encoding": "utf-16"})

    partitions = plan_partitions(source)
    (result,) = _read_all(source)

    assert len(partitions) == 1
    assert read_schema(source) == {"x": "int", "név": "string"}
    assert result.records == 600_000
    assert _rows(result)[-1] == {"x": 1, "név": "é"}


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_name(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfa,b\n1,2\n")
    source = _source(path)

    assert read_schema(source) == {"a": "int", "b": "int"}
    assert _rows(_read_all(source)[0]) == [{"a": 1, "b": 2}]


def test_parquet_is_one_partition_a_row_group(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"n": list(range(10))}), path, row_group_size=4)
    source = _source(path, "parquet")

    partitions = plan_partitions(source)
    results = [read_partition(source, p, {"n": "int"}) for p in partitions]

    assert [p.row_group for p in partitions] == [0, 1, 2]
    assert [_rows(r) for r in results] == [
        [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}],
        [{"n": 4}, {"n": 5}, {"n": 6}, {"n": 7}],
        [{"n": 8}, {"n": 9}],
    ]
    assert [r.records for r in results] == [4, 4, 2]


def test_a_partition_survives_pickling() -> None:
    partition = Partition("/data/a.csv", 3, 1 << 20, 2 << 20, None)

    assert pickle.loads(pickle.dumps(partition)) == partition  # noqa: S301 - bytes made here


# --- schemas -----------------------------------------------------------------------------------


def test_a_csv_schema_is_inferred_from_the_head(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "t.csv",
        "n,x,s,b,d,t,e\n1,1.5,a,true,2024-01-02,2024-01-02 03:04:05,\n2,2,b,false,2024-01-03,"
        "2024-01-02T03:04:05,\n",
    )

    schema = read_schema(_source(path))

    assert schema == {
        "n": "int",
        "x": "float",
        "s": "string",
        "b": "bool",
        "d": "date",
        "t": "timestamp",
        "e": "string",
    }


def test_csv_inference_tolerates_a_rare_value_no_type_takes(tmp_path: Path) -> None:
    rows = [f"{n},{n},{n + 0.5 if n % 50 == 0 else n},{n if n % 2 else 'x'}" for n in range(300)]
    rows[7] = "7,lots,7,7"
    path = _write(tmp_path / "t.csv", "id,qty,price,mixed\n" + "\n".join(rows) + "\n")
    source = _source(path)

    schema = read_schema(source)
    (result,) = _read_all(source)

    assert schema == {"id": "int", "qty": "int", "price": "float", "mixed": "string"}
    assert _rejects(result) == [(8, "qty: 'lots' is not an int", "7,lots,7,7")]


def test_an_explicit_schema_is_the_sources_columns(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "a,b,c\n1,2,3\n")
    source = _source(path, columns={"c": "string", "a": "float"})

    schema = read_schema(source)
    result = read_partition(source, plan_partitions(source)[0], schema)

    assert schema == {"c": "string", "a": "float"}
    assert result.table.column_names == ["c", "a", *HIDDEN_COLUMNS]
    assert _rows(result) == [{"c": "3", "a": 1.0}]


def test_an_explicit_column_missing_from_the_header_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "a,b\n1,2\n")
    source = _source(path, columns={"a": "int", "qty": "int"})

    with pytest.raises(SourceError, match=r"t\.csv has no column 'qty'"):
        read_schema(source)
    with pytest.raises(SourceError, match="'qty'"):
        read_partition(source, plan_partitions(source)[0], {"a": "int", "qty": "int"})


def test_without_a_header_columns_are_numbered_or_named_by_the_spec(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "1,a\n2,b\n")
    numbered = _source(path, options={"header": False})
    named = _source(path, options={"header": False}, columns={"id": "int", "name": "string"})

    schema = read_schema(numbered)
    rows = _rows(_read_all(numbered)[0])
    named_rows = _rows(_read_all(named)[0])

    assert schema == {"col_1": "int", "col_2": "string"}
    assert rows == [{"col_1": 1, "col_2": "a"}, {"col_1": 2, "col_2": "b"}]
    assert named_rows == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]


def test_a_nested_json_column_without_an_explicit_schema_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.ndjson", '{"a": 1, "tags": [1, 2]}\n')

    with pytest.raises(SourceError, match="'tags'"):
        read_schema(_source(path, "ndjson"))


# --- reading CSV -------------------------------------------------------------------------------


def test_bad_csv_records_are_rejected_and_the_rows_around_them_kept(tmp_path: Path) -> None:
    text = (
        "id,qty,price,day,ok,name\n"
        "1,10,1.5,2024-01-01,true,a\n"
        "2,abc,1.5,2024-01-01,true,b\n"
        "3,30,1.5,2024-01-01,true,c\n"
        "4,40,1.5\n"
        "\n"
        "5,50,n/a,2024-01-01,true,e\n"
        "6,60,1.5,2024-02-30,true,f\n"
        "7,70,1.5,2024-01-01,yes,g\n"
        "8,80,1.5,2024-01-01,false,h,extra\n"
        "9,90,2.5,2024-01-09,false,i\n"
    )
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode() + b"10,100,1.5,2024-01-01,true,\xff\n11,x,,,,k\n")
    schema: Schema = {
        "id": "int",
        "qty": "int",
        "price": "float",
        "day": "date",
        "ok": "bool",
        "name": "string",
    }

    (result,) = _read_all(_source(path), schema)

    assert [row["id"] for row in _rows(result)] == [1, 3, 9]
    assert _row_numbers(result) == [1, 3, 9]
    assert result.records == 11
    assert _rejects(result) == [
        (2, "qty: 'abc' is not an int", "2,abc,1.5,2024-01-01,true,b"),
        (4, "expected 6 fields, found 3", "4,40,1.5"),
        (5, "price: 'n/a' is not a float", "5,50,n/a,2024-01-01,true,e"),
        (6, "day: '2024-02-30' is not a date", "6,60,1.5,2024-02-30,true,f"),
        (7, "ok: 'yes' is not a bool", "7,70,1.5,2024-01-01,yes,g"),
        (8, "expected 6 fields, found 7", "8,80,1.5,2024-01-01,false,h,extra"),
        (10, "not valid utf-8 text", "10,100,1.5,2024-01-01,true,\ufffd"),
        (11, "qty: 'x' is not an int", "11,x,,,,k"),
    ]
    assert result.rejects.schema == REJECT_SCHEMA
    assert _rows(result)[-1] == {
        "id": 9,
        "qty": 90,
        "price": 2.5,
        "day": dt.date(2024, 1, 9),
        "ok": False,
        "name": "i",
    }


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        (
            "int",
            ["5", " 5", "5\t", "-0", "+5", "0x1F", "0X1f", "-0x10", "1e3", "9223372036854775808"],
        ),
        ("float", ["1.5", " 1.5 ", "+1.5", ".5", "5.", "1e3", "inf", "-Infinity", "nan", "1,5"]),
        ("bool", ["true", "True", "TRUE", "1", "0", "false", " true", "tRue", "yes"]),
        ("date", ["2024-01-02", " 2024-01-02", "2024-1-2", "2024-01-02T00:00:00", "20240102"]),
        (
            "timestamp",
            [
                "2024-01-02",
                "2024-01-02T03",
                "2024-01-02 03:04:05",
                "2024-01-02T03:04:05.123456",
                " 2024-01-02T03:04",
                "2024-01-02T03:04:05.1234567",
                "2024-01-02t03:04:05",
            ],
        ),
        ("string", ["a", " a ", '"quoted"', "NA"]),
    ],
)
def test_a_value_reads_the_same_whether_or_not_other_records_are_bad(
    tmp_path: Path, kind: TypeName, values: list[str]
) -> None:
    # Alone, a good value takes the one-pass read; next to bad records (a wrong value in the
    # same column, a wrong number of fields), the slower one. Both must read it the same.
    schema: Schema = {"v": kind, "w": "int"}
    for value in values:
        quoted = '"' + value.replace('"', '""') + '"'
        alone = _write(tmp_path / "alone.csv", f"v,w\n{quoted},1\n")
        beside = _write(tmp_path / "beside.csv", f"v,w\n{quoted},1\nzzz,2\nbad\n")

        (one,) = _read_all(_source(alone), schema)
        (two,) = _read_all(_source(beside), schema)

        assert repr(_first(one)) == repr(_first(two)), value  # repr: nan == nan
        assert _rejects(two)[-1][:2] == (3, "expected 2 fields, found 1")


@pytest.mark.parametrize("value", ["0x10", "0X1f", " 0x1F", "-0x10", "+0x1"])
def test_an_int_column_refuses_hexadecimal_whether_or_not_other_records_are_bad(
    tmp_path: Path, value: str
) -> None:
    # arrow's int parser takes 0x10 as 16: read alone, the one-pass path used to keep it.
    schema: Schema = {"v": "int", "w": "string"}
    alone = _write(tmp_path / "alone.csv", f"v,w\n{value},x\n7,y\n")
    beside = _write(tmp_path / "beside.csv", f"v,w\n{value},x\n7,y\nabc,z\n")

    (one,) = _read_all(_source(alone), schema)
    (two,) = _read_all(_source(beside), schema)

    for result in (one, two):
        assert _rows(result) == [{"v": 7, "w": "y"}]
        assert _rejects(result)[0] == (1, f"v: {value!r} is not an int", f"{value},x")


def test_invalid_text_in_a_column_never_read_rejects_its_row_whatever_the_partitioning(
    tmp_path: Path,
) -> None:
    # A partition with no other bad record took pyarrow's one pass, which checks the text of
    # the columns it reads only; one with a bad int was salvaged, which checks every line.
    total = 120_000
    undecodable = {11, 30_000, 61_000, 90_000, 119_990}
    bad_int = {45_000}
    lines = []
    for n in range(1, total + 1):
        note = b"caf\xe9" if n in undecodable else f"note-{n:08d}".encode()
        value = b"abc" if n in bad_int else str(n).encode()
        lines.append(b"%d,%s,%s" % (n, value, note))
    path = tmp_path / "big.csv"
    path.write_bytes(b"id,v,note\n" + b"\n".join(lines) + b"\n")
    schema: Schema = {"id": "int", "v": "int"}  # note is never read

    found: dict[int, set[str]] = {}
    for partition_mb in (1, 2, 8):
        results = _read_all(_source(path, partition_mb=partition_mb), schema)
        before, rejected = 0, set()
        for result in results:
            rejected |= {f"{before + row}: {reason}" for row, reason, _ in _rejects(result)}
            before += result.records
        found[partition_mb] = rejected

    expected = {f"{n}: not valid utf-8 text" for n in undecodable}
    expected |= {"45000: v: 'abc' is not an int"}
    assert found == {1: expected, 2: expected, 8: expected}


def _first(result: ReadResult) -> tuple[list[dict[str, Any]], list[tuple[int, str, str]]]:
    """The first record's row or reject."""
    rows = [row for n, row in zip(_row_numbers(result), _rows(result), strict=True) if n == 1]
    return rows, [reject for reject in _rejects(result) if reject[0] == 1]


def test_iso_dates_and_timestamps_read_as_dates_and_timestamps(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "t.csv",
        "d,t\n2024-02-29,2024-02-29T13:14:15.5\n2024-03-01,2024-03-01T01:00:00+02:00\n",
    )
    source = _source(path, columns={"d": "date", "t": "timestamp"})

    (result,) = _read_all(source)

    assert result.table.schema.field("d").type == pa.date32()
    assert result.table.schema.field("t").type == pa.timestamp("us")
    assert _rows(result) == [
        {"d": dt.date(2024, 2, 29), "t": dt.datetime(2024, 2, 29, 13, 14, 15, 500000)},
        {"d": dt.date(2024, 3, 1), "t": dt.datetime(2024, 2, 29, 23, 0, 0)},
    ]


def test_empty_fields_are_null_and_hidden_columns_name_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", 'a,b,c\n1,,""\n,x,y\n')
    source = _source(path, columns={"a": "int", "b": "string", "c": "string"})

    (result,) = _read_all(source)

    assert _rows(result) == [{"a": 1, "b": None, "c": None}, {"a": None, "b": "x", "c": "y"}]
    assert result.table.schema.field("_tf_row").type == pa.int64()
    assert result.table.column("_tf_file").to_pylist() == [str(path)] * 2
    assert [result.table.schema.field(n).type for n in ("a", "b")] == [
        ARROW_TYPES["int"],
        ARROW_TYPES["string"],
    ]


@pytest.mark.parametrize(("suffix", "codec"), [(".gz", "gzip"), (".bz2", "bz2"), (".zst", "zstd")])
def test_a_compressed_csv_is_read_by_its_extension(tmp_path: Path, suffix: str, codec: str) -> None:
    data = b"id,name\n1,a\n2,oops,x\n3,c\n"
    path = tmp_path / f"t.csv{suffix}"
    with pa.output_stream(str(path), compression=codec) as stream:
        stream.write(data)
    source = _source(path)

    (result,) = _read_all(source)

    assert read_schema(source) == {"id": "int", "name": "string"}
    assert _rows(result) == [{"id": 1, "name": "a"}, {"id": 3, "name": "c"}]
    assert _rejects(result) == [(2, "expected 2 fields, found 3", "2,oops,x")]


def test_a_non_utf8_csv_is_transcoded_and_undecodable_records_rejected(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes("n;name\n1;café\n2;Straße\n".encode("cp1252") + b"3;bad\x81\n4;ok\n")
    source = _source(path, options={"encoding": "cp1252", "delimiter": ";"})

    (result,) = _read_all(source)

    assert _rows(result) == [
        {"n": 1, "name": "café"},
        {"n": 2, "name": "Straße"},
        {"n": 4, "name": "ok"},
    ]
    assert [(row, reason) for row, reason, _ in _rejects(result)] == [(3, "not valid cp1252 text")]


def test_a_header_only_csv_reads_no_rows(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "a,b\n")
    source = _source(path)

    (result,) = _read_all(source)

    assert read_schema(source) == {"a": "string", "b": "string"}
    assert result.records == 0
    assert result.table.column_names == ["a", "b", *HIDDEN_COLUMNS]


# --- reading JSON ------------------------------------------------------------------------------


def test_bad_ndjson_lines_are_rejected_and_the_rows_around_them_kept(tmp_path: Path) -> None:
    lines = [
        '{"id": 1, "qty": 2, "day": "2024-01-02", "extra": true}',
        '{"id": 2, "qty": "abc"}',
        "{not json",
        "",
        "[1, 2]",
        '{"id": 5}',
        '{"id": 6, "day": "2024-13-01"}',
        '{"id": 7, "qty": 7.5, "at": "2024-01-02T03:04:05Z"}',
        '{"id": 8, "at": "2024-01-02T03:04:05+01:00"}',
    ]
    path = _write(tmp_path / "t.ndjson", "\n".join(lines) + "\n")
    schema: Schema = {"id": "int", "qty": "int", "day": "date", "at": "timestamp"}

    (result,) = _read_all(_source(path, "ndjson"), schema)

    assert _rows(result) == [
        {"id": 1, "qty": 2, "day": dt.date(2024, 1, 2), "at": None},
        {"id": 5, "qty": None, "day": None, "at": None},
        {"id": 8, "qty": None, "day": None, "at": dt.datetime(2024, 1, 2, 2, 4, 5)},
    ]
    assert _row_numbers(result) == [1, 5, 8]
    assert result.records == 8
    reasons = {row: reason for row, reason, _ in _rejects(result)}
    assert reasons[2] == "qty: 'abc' is not an int"
    assert reasons[3].startswith("invalid JSON")
    assert reasons[4] == "not a JSON object: [1, 2]"
    assert reasons[6] == "day: '2024-13-01' is not a date"
    assert reasons[7] == "qty: 7.5 is not an int"
    assert set(reasons) == {2, 3, 4, 6, 7}
    assert _rejects(result)[1][2] == "{not json"


def test_a_split_ndjson_reads_every_object_once(tmp_path: Path) -> None:
    lines = [json.dumps({"n": n, "pad": "y" * 40}) for n in range(1, 80_001)]
    path = _write(tmp_path / "t.jsonl", "\n".join(lines) + "\n")
    source = _source(path, "ndjson", partition_mb=1)

    results = _read_all(source)

    assert len(results) > 3
    assert [row["n"] for r in results for row in _rows(r)] == list(range(1, 80_001))


def test_a_json_array_is_read_item_by_item(tmp_path: Path) -> None:
    items = [{"a": 1, "b": "x"}, {"a": 2}, 3, {"a": "three", "b": "z"}]
    path = _write(tmp_path / "t.json", json.dumps(items, indent=2))
    source = _source(path, "json")

    schema = read_schema(source)
    (result,) = _read_all(source, {"a": "int", "b": "string"})

    assert schema == {"a": "string", "b": "string"}  # the head mixes numbers and text
    assert _rows(result) == [{"a": 1, "b": "x"}, {"a": 2, "b": None}]
    assert [(row, reason) for row, reason, _ in _rejects(result)] == [
        (3, "not a JSON object: 3"),
        (4, "a: 'three' is not an int"),
    ]
    assert result.records == 4


def test_a_json_file_that_is_not_an_array_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.json", '{"a": 1}')
    source = _source(path, "json", columns={"a": "int"})

    with pytest.raises(SourceError, match="array"):
        read_partition(source, plan_partitions(source)[0], {"a": "int"})


# --- reading Parquet, Excel and Avro -----------------------------------------------------------


def test_parquet_values_that_do_not_cast_to_the_schema_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    table = pa.table(
        {
            "n": pa.array(["1", "two", "3"]),
            "at": pa.array([0, 1_500_000_000_123, None], pa.timestamp("ns", tz="UTC")),
        }
    )
    pq.write_table(table, path)
    source = _source(path, "parquet", columns={"n": "int", "at": "timestamp"})

    assert read_schema(_source(path, "parquet")) == {"n": "string", "at": "timestamp"}
    (result,) = _read_all(source)

    assert _rows(result) == [
        {"n": 1, "at": dt.datetime(1970, 1, 1)},
        {"n": 3, "at": None},
    ]
    assert [(row, reason) for row, reason, _ in _rejects(result)] == [(2, "n: 'two' is not an int")]
    assert json.loads(_rejects(result)[0][2])["n"] == "two"


def test_an_excel_sheet_is_read_by_name_with_bad_cells_rejected(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["ignored"])
    sheet = book.create_sheet("orders")
    sheet.append(["id", "qty", "day", "note"])
    sheet.append([1, 2.0, dt.datetime(2024, 1, 2), "a"])
    sheet.append([2, "many", dt.datetime(2024, 1, 3), "b"])
    sheet.append([None, None, None, None])
    sheet.append([3, 4, dt.datetime(2024, 1, 4), 5])
    sheet.append([4, 5, dt.datetime(2024, 1, 5), "d", "surplus"])
    book.save(path)
    source = _source(path, "excel", options={"sheet": "orders"})

    schema = read_schema(source)
    (result,) = _read_all(source)

    assert schema == {"id": "int", "qty": "string", "day": "date", "note": "string"}
    typed = _read_all(source, {"id": "int", "qty": "int", "day": "date", "note": "string"})[0]
    assert _rows(typed) == [
        {"id": 1, "qty": 2, "day": dt.date(2024, 1, 2), "note": "a"},
        {"id": 3, "qty": 4, "day": dt.date(2024, 1, 4), "note": "5"},
    ]
    assert [(row, reason) for row, reason, _ in _rejects(typed)] == [
        (2, "qty: 'many' is not an int"),
        (4, "expected 4 fields, found 5"),
    ]
    assert result.records == 4


def test_a_missing_excel_sheet_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    openpyxl.Workbook().save(path)

    with pytest.raises(SourceError, match="no sheet 'nope'"):
        read_schema(_source(path, "excel", options={"sheet": "nope"}))


def test_avro_records_are_read_with_types_from_the_writer_schema(tmp_path: Path) -> None:
    path = tmp_path / "t.avro"
    schema = {
        "type": "record",
        "name": "Order",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "day", "type": ["null", {"type": "int", "logicalType": "date"}]},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {"name": "price", "type": "double"},
            {"name": "note", "type": ["null", "string"]},
        ],
    }
    records = [
        {
            "id": n,
            "day": dt.date(2024, 1, n) if n != 2 else None,
            "at": dt.datetime(2024, 1, 1, n, tzinfo=dt.UTC),
            "price": n / 2,
            "note": f"n{n}",
        }
        for n in (1, 2, 3)
    ]
    with path.open("wb") as stream:
        fastavro.writer(stream, fastavro.parse_schema(schema), records)
    source = _source(path, "avro")

    inferred = read_schema(source)
    (result,) = _read_all(source)
    (as_text,) = _read_all(source, {"id": "string", "price": "int"})

    assert inferred == {
        "id": "int",
        "day": "date",
        "at": "timestamp",
        "price": "float",
        "note": "string",
    }
    assert _rows(result)[1] == {
        "id": 2,
        "day": None,
        "at": dt.datetime(2024, 1, 1, 2),
        "price": 1.0,
        "note": "n2",
    }
    assert _rows(as_text) == [{"id": "2", "price": 1}]
    assert [(row, reason) for row, reason, _ in _rejects(as_text)] == [
        (1, "price: 0.5 is not an int"),
        (3, "price: 1.5 is not an int"),
    ]


# --- reading no column -------------------------------------------------------------------------


def _files_of_three_records(folder: Path) -> dict[str, Path]:
    """One file a format, each with three good records and, where it can, a bad one second."""
    pq.write_table(pa.table({"a": [1, 2, 3]}), folder / "t.parquet", row_group_size=2)
    book = openpyxl.Workbook()
    for row in (["a"], [1], [2, 3], [4]):  # the second record has a field too many
        book.active.append(row)
    book.save(folder / "t.xlsx")
    avro_schema = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"}]}
    with (folder / "t.avro").open("wb") as stream:
        fastavro.writer(stream, fastavro.parse_schema(avro_schema), [{"a": n} for n in (1, 2, 3)])
    return {
        "parquet": folder / "t.parquet",
        "excel": folder / "t.xlsx",
        "avro": folder / "t.avro",
        "csv": _write(folder / "t.csv", "a,b\n1,x\n2\n3,y\n"),
        "ndjson": _write(folder / "t.ndjson", '{"a": 1}\nnot json\n{"a": 3}\n'),
        "json": _write(folder / "t.json", '[{"a": 1}, 2, {"a": 3}]'),
    }


@pytest.mark.parametrize("format_", ["parquet", "csv", "ndjson", "json", "excel", "avro"])
def test_a_job_reading_no_column_keeps_every_record_as_a_row(tmp_path: Path, format_: str) -> None:
    # A job whose transforms use no source column (derive one = 1, then count by one) reads
    # the schema {}: each record still makes a row, numbered, and bad records are rejected.
    source = _source(_files_of_three_records(tmp_path)[format_], format_)

    results = _read_all(source, {})

    assert [r.table.column_names for r in results] == [list(HIDDEN_COLUMNS)] * len(results)
    numbers = [_row_numbers(r) for r in results]
    rejected = [row for r in results for row, _, _ in _rejects(r)]
    if format_ == "parquet":  # two row groups, every record good
        assert (numbers, rejected) == ([[1, 2], [1]], [])
    elif format_ == "avro":
        assert (numbers, rejected) == ([[1, 2, 3]], [])
    else:
        assert (numbers, rejected) == ([[1, 3]], [2])
    assert sum(r.records for r in results) == 3


def test_a_split_csv_reading_no_column_keeps_every_record(tmp_path: Path) -> None:
    lines = [f"{n:07d},{'x' * 40}\n" for n in range(1, 60_001)]
    path = _write(tmp_path / "big.csv", "".join(lines))
    source = _source(path, partition_mb=1, options={"header": False})

    results = _read_all(source, {})

    assert len(results) > 1
    assert {tuple(r.table.column_names) for r in results} == {HIDDEN_COLUMNS}
    assert [r.table.num_rows for r in results] == [r.records for r in results]
    assert sum(r.records for r in results) == 60_000


@pytest.mark.parametrize("trailing_newline", [True, False])
def test_byte_ranges_read_every_line_once_wherever_they_cut(
    tmp_path: Path, trailing_newline: bool
) -> None:
    lines = [f"{n},{'x' * (n % 7)}\n".encode() for n in range(40)]
    data = b"".join(lines).removesuffix(b"" if trailing_newline else b"\n")
    path = tmp_path / "lines.csv"
    path.write_bytes(data)
    for step in (1, 3, 5, 8, 13, len(data) + 10):
        cuts = [*range(0, len(data), step), len(data) + step]
        pieces = [read_range(str(path), a, b) for a, b in itertools.pairwise(cuts)]
        assert b"".join(pieces) == data, step
