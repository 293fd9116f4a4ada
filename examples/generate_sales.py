"""Write a sample sales file of any size, as CSV or Parquet, the same for the same seed.

    python examples/generate_sales.py --rows 5000000 --out data/sales.csv [--seed 7] [--bad-rows 0]
    python examples/generate_sales.py --rows 1000000 --out data/sales.parquet --format parquet

Columns: order_id (unique int), order_date (ISO date in 2023-2024), region (6 values, one per
store), store_id (1-200), product (400, e.g. ``ELEC-0017``), category (10, one per product),
quantity (mostly 1-20; about 1% are 0 and 0.3% negative, returns), unit_price (2 decimals, near
the product's list price), discount (0 to 0.3 in steps of 0.05). About 60 bytes a row as CSV.

``--bad-rows K`` puts K malformed rows at random places, to show a job's rejects: in CSV a
quantity of ``abc``, a price of ``n/a``, an impossible date, a missing or an extra field; in
Parquet, whose columns are typed, a null quantity, region or order_date.

Rows are made a chunk at a time with numpy and written by pyarrow: 5 million take seconds.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

CHUNK_ROWS = 500_000
PROGRESS_FROM_ROWS = 1_000_000
# Each column with the job-spec type it is read as (the sample specs name the same).
COLUMN_TYPES = {
    "order_id": "int",
    "order_date": "date",
    "region": "string",
    "store_id": "int",
    "product": "string",
    "category": "string",
    "quantity": "int",
    "unit_price": "float",
    "discount": "float",
}
COLUMNS = tuple(COLUMN_TYPES)
REGIONS = ("North", "South", "East", "West", "Central", "Online")
CATEGORIES = (
    "Electronics",
    "Grocery",
    "Clothing",
    "Home",
    "Toys",
    "Sports",
    "Beauty",
    "Books",
    "Garden",
    "Automotive",
)
STORES = 200
PRODUCTS_PER_CATEGORY = 40
FIRST_DAY = 19358  # 2023-01-01, in days since 1970-01-01
DAYS = 731  # through 2024-12-31
ZERO_QUANTITY_SHARE = 0.01
RETURN_SHARE = 0.003
DISCOUNTS = np.array([0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3])
DISCOUNT_WEIGHTS = np.array([0.55, 0.15, 0.1, 0.08, 0.06, 0.04, 0.02])

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Bad:
    """Malformed rows (0-based, in the whole file) and their ordinals, which pick the fault."""

    rows: IntArray
    ordinals: IntArray

    @classmethod
    def none(cls) -> Bad:
        """No malformed row."""
        empty = np.zeros(0, dtype=np.int64)
        return cls(empty, empty)


@dataclass(frozen=True)
class Chunk:
    """Rows from ``start`` on, as a table, and which of them are malformed."""

    start: int
    table: pa.Table
    bad: Bad


@dataclass(frozen=True)
class Catalog:
    """What stays fixed across rows: stores' regions, products' categories and list prices."""

    store_region: npt.NDArray[np.int8]
    product_names: pa.Array
    product_category: npt.NDArray[np.int8]
    list_price: npt.NDArray[np.float64]
    product_weights: npt.NDArray[np.float64]


def catalog(seed: int) -> Catalog:
    """The stores and products for ``seed``."""
    rng = np.random.default_rng([seed, 0])
    products = len(CATEGORIES) * PRODUCTS_PER_CATEGORY
    category = np.repeat(np.arange(len(CATEGORIES), dtype=np.int8), PRODUCTS_PER_CATEGORY)
    names = [
        f"{CATEGORIES[c][:4].upper()}-{k + 1:04d}"
        for c in range(len(CATEGORIES))
        for k in range(PRODUCTS_PER_CATEGORY)
    ]
    weights = rng.pareto(1.5, products) + 0.05  # a few best sellers, a long tail
    return Catalog(
        store_region=rng.integers(0, len(REGIONS), STORES).astype(np.int8),
        product_names=pa.array(names, pa.string()),
        product_category=category,
        list_price=np.round(rng.lognormal(3.0, 1.0, products), 2) + 0.99,
        product_weights=weights / weights.sum(),
    )


def _labels(
    indices: npt.NDArray[np.integer], values: pa.Array, nulls: npt.NDArray[np.bool_] | None = None
) -> pa.Array:
    """A dictionary-encoded string column: cheap to build, written as plain text."""
    return pa.DictionaryArray.from_arrays(pa.array(indices, mask=nulls), values)


def _quantity(rng: np.random.Generator, n: int) -> IntArray:
    quantity = np.minimum(rng.geometric(0.35, n), 20).astype(np.int64)
    draw = rng.random(n)
    quantity[draw < ZERO_QUANTITY_SHARE] = 0
    returns = draw > 1.0 - RETURN_SHARE
    quantity[returns] = -rng.integers(1, 4, int(returns.sum()))
    return quantity


def chunk(cat: Catalog, seed: int, start: int, n: int, bad: Bad) -> pa.Table:
    """Rows ``start`` to ``start + n`` (0-based); ``bad`` rows get a null."""
    rng = np.random.default_rng([seed, 1, start])
    stores = rng.integers(0, STORES, n)
    products = rng.choice(len(cat.list_price), n, p=cat.product_weights)
    variation = rng.uniform(0.9, 1.1, n)
    nulls = [np.zeros(n, dtype=np.bool_) for _ in range(3)]
    for offset, kind in zip(bad.rows - start, bad.ordinals % len(nulls), strict=True):
        nulls[kind][offset] = True
    days = (FIRST_DAY + rng.integers(0, DAYS, n)).astype(np.int32)
    columns = [
        pa.array(np.arange(start + 1, start + n + 1, dtype=np.int64)),
        pa.array(days, mask=nulls[0]).cast(pa.date32()),
        _labels(cat.store_region[stores], pa.array(REGIONS), nulls[1]),
        pa.array(stores + 1),
        _labels(products.astype(np.int16), cat.product_names),
        _labels(cat.product_category[products], pa.array(CATEGORIES)),
        pa.array(_quantity(rng, n), mask=nulls[2]),
        pa.array(np.round(cat.list_price[products] * variation, 2)),
        pa.array(rng.choice(DISCOUNTS, n, p=DISCOUNT_WEIGHTS)),
    ]
    return pa.Table.from_arrays(columns, names=list(COLUMNS))


# --- malformed CSV rows ----------------------------------------------------------------------


def _bad_quantity(fields: list[bytes]) -> list[bytes]:
    return [*fields[:6], b"abc", *fields[7:]]


def _bad_price(fields: list[bytes]) -> list[bytes]:
    return [*fields[:7], b"n/a", *fields[8:]]


def _bad_date(fields: list[bytes]) -> list[bytes]:
    return [fields[0], b"2023-02-30", *fields[2:]]


def _missing_field(fields: list[bytes]) -> list[bytes]:
    return fields[:-1]


def _extra_field(fields: list[bytes]) -> list[bytes]:
    return [*fields, b"surplus"]


MALFORMATIONS: tuple[Callable[[list[bytes]], list[bytes]], ...] = (
    _bad_quantity,
    _bad_price,
    _bad_date,
    _missing_field,
    _extra_field,
)


def csv_bytes(part: Chunk) -> bytes:
    """The chunk as CSV lines without a header, its bad rows malformed."""
    buffer = io.BytesIO()
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
    pa_csv.write_csv(part.table, buffer, options)
    data = buffer.getvalue()
    if not len(part.bad.rows):
        return data
    lines = data.split(b"\n")
    for row, ordinal in zip(part.bad.rows - part.start, part.bad.ordinals, strict=True):
        malform = MALFORMATIONS[ordinal % len(MALFORMATIONS)]
        lines[row] = b",".join(malform(lines[row].split(b",")))
    return b"\n".join(lines)


# --- writing ---------------------------------------------------------------------------------


def bad_rows(rows: int, count: int, seed: int) -> IntArray:
    """``count`` distinct row numbers (0-based) out of ``rows``, sorted."""
    if count > rows:
        raise ValueError(f"--bad-rows {count} is more than --rows {rows}")
    rng = np.random.default_rng([seed, 2])
    return np.sort(rng.choice(rows, count, replace=False)).astype(np.int64)


def chunks(rows: int, seed: int, bad: IntArray, *, nulls: bool) -> Iterator[Chunk]:
    """The file's chunks in order; bad rows get a null in the table only if ``nulls``."""
    cat = catalog(seed)
    for start in range(0, rows, CHUNK_ROWS):
        n = min(CHUNK_ROWS, rows - start)
        low, high = np.searchsorted(bad, [start, start + n])
        here = Bad(bad[low:high], np.arange(low, high, dtype=np.int64))
        table = chunk(cat, seed, start, n, here if nulls else Bad.none())
        yield Chunk(start, table, here)


def write_csv(path: Path, rows: int, seed: int, bad: IntArray) -> None:
    """The whole file: a header, then every chunk."""
    with path.open("wb") as out:
        out.write(",".join(COLUMNS).encode() + b"\n")
        for part in chunks(rows, seed, bad, nulls=False):
            out.write(csv_bytes(part))
            _progress(part.start + part.table.num_rows, rows)


def write_parquet(path: Path, rows: int, seed: int, bad: IntArray) -> None:
    """One Parquet file, a row group per chunk, strings stored plain."""
    writer: pq.ParquetWriter | None = None
    try:
        for part in chunks(rows, seed, bad, nulls=True):
            table = part.table
            plain = pa.Table.from_arrays(
                [_decoded(column) for column in table.columns], names=table.column_names
            )
            if writer is None:
                writer = pq.ParquetWriter(path, plain.schema, compression="snappy")
            writer.write_table(plain)
            _progress(part.start + table.num_rows, rows)
    finally:
        if writer is not None:
            writer.close()


def _decoded(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        return column.cast(pa.string())
    return column


def _progress(done: int, rows: int) -> None:
    if rows >= PROGRESS_FROM_ROWS:
        print(f"  {done:,} / {rows:,} rows ({done / rows:.0%})", flush=True)


def generate(path: Path, rows: int, seed: int = 7, bad: int = 0, fmt: str = "csv") -> None:
    """Write ``rows`` rows to ``path`` (through a temporary name, so a half file never shows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    writer = write_parquet if fmt == "parquet" else write_csv
    writer(partial, rows, seed, bad_rows(rows, bad, seed))
    partial.replace(path)


def main(argv: list[str] | None = None) -> None:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True, help="how many rows")
    parser.add_argument("--out", type=Path, required=True, help="the file to write")
    parser.add_argument("--seed", type=int, default=7, help="same seed, same file (default 7)")
    parser.add_argument("--bad-rows", type=int, default=0, help="malformed rows to inject")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.bad_rows < 0:
        parser.error("--rows must be at least 1 and --bad-rows at least 0")
    started = time.perf_counter()
    try:
        generate(args.out, args.rows, args.seed, args.bad_rows, args.format)
    except ValueError as exc:
        parser.error(str(exc))
    size = args.out.stat().st_size / 1e6
    print(
        f"wrote {args.rows:,} rows ({args.bad_rows:,} malformed) to {args.out}:"
        f" {size:,.1f} MB in {time.perf_counter() - started:.1f} s",
        flush=True,
    )


if __name__ == "__main__":
    main()
