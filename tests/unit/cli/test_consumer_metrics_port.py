"""A consumer whose metrics port is taken stops before it joins its group, saying so in one line."""

import os
import socket
import subprocess
import sys
from pathlib import Path

from tuskflow.cli.main import EXIT_PERMANENT

TUSKFLOW = Path(sys.executable).with_name("tuskflow")
# Settings must name the services, but none is reached: the port is refused first.
_NOWHERE = {
    "TUSKFLOW_REDIS_URL": "redis://127.0.0.1:9/0",
    "TUSKFLOW_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
}


def test_a_metrics_port_in_use_is_one_line_naming_it_and_no_traceback() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # the metrics server wants every address
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [TUSKFLOW, "consume", "redis", "--stream=s", "--group=g", f"--metrics-port={port}"],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **_NOWHERE},
        )

    assert run.returncode == EXIT_PERMANENT
    assert "Traceback" not in run.stderr
    assert f"tuskflow: cannot serve the consumer's metrics on 0.0.0.0:{port}:" in run.stderr
    assert "choose another --metrics-port" in run.stderr
