"""One import root: no module of the repository imports tuskflow's parts by a top-level name."""

import ast
from pathlib import Path

import tuskflow

ROOT = Path(__file__).resolve().parents[2]
PARTS = {"cli", "config", "deploy", "eventstore", "etl", "jobs", "scheduler", "tasks", "workers"}
SKIPPED = {".venv", ".tuskflow", ".git", "build", "tuskflow"}  # tuskflow/ only links the parts


def _sources() -> list[Path]:
    return [
        path for path in ROOT.rglob("*.py") if not SKIPPED & set(path.relative_to(ROOT).parts[:1])
    ]


def _top_level_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_every_import_of_a_part_goes_through_the_tuskflow_root() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_top_level_imports(path) & PARTS) for path in _sources()
    }

    assert len(offenders) > 150
    assert {path: parts for path, parts in offenders.items() if parts} == {}


def test_each_part_is_a_subpackage_of_tuskflow_at_its_root_folder() -> None:
    package = Path(tuskflow.__file__).parent

    for part in PARTS:
        assert (package / part).resolve() == ROOT / part
        assert (ROOT / part / "__init__.py").exists()
