"""The README's SQL example is a spec tuskflow accepts, with the types it says."""

import re
from pathlib import Path

import yaml

from tuskflow.etl.spec import SourceSpec, parse_spec
from tuskflow.etl.types import TypeName
from tuskflow.etl.validate import check_spec, output_schema

README = Path(__file__).resolve().parents[3] / "README.md"
LINEITEM: dict[str, TypeName] = {
    "ship_date": "date",
    "order_date": "date",
    "status": "string",
    "discount": "float",
    "comment": "string",
    "price": "float",
    "return_flag": "string",
    "line_status": "string",
    "coupon": "string",
    "customer_id": "int",
}


def _schema(source: SourceSpec) -> dict[str, TypeName]:
    return LINEITEM


def test_the_readme_sql_example_validates_and_gives_the_documented_columns() -> None:
    block = re.search(r"```yaml\n(transforms:.*?)```", README.read_text(), re.S)
    assert block is not None
    spec = parse_spec(
        {
            "version": 1,
            "name": "readme",
            "source": {"format": "csv", "path": "lineitem.csv"},
            "sink": {"kind": "csv", "path": "out.csv"},
            **yaml.safe_load(block.group(1)),
        }
    )

    assert check_spec(spec, _schema) == []
    assert output_schema(spec, _schema) == {
        "return_flag": "string",
        "line_status": "string",
        "revenue": "float",
        "orders": "int",
        "with_coupon": "int",
        "customers": "int",
        "mean_discount": "float",
        "shipped_in_1998": "int",
    }
