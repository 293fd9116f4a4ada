"""Which heavy packages a piece of tuskflow loads, asked of a fresh interpreter."""

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

_REPORT = (
    "\nimport json, sys"
    "\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {watched!r})))"
)


def packages_loaded(
    code: str, watched: Iterable[str], *args: str, cwd: Path | None = None
) -> list[str]:
    """The ``watched`` top-level packages loaded once ``code`` ran in a new ``python -c``
    (``args`` as its sys.argv[1:]), sorted; a fresh process, so nothing this one loaded counts."""
    script = code + _REPORT.format(watched=set(watched))
    done = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded
