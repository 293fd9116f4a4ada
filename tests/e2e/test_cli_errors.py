"""The CLI's rule for errors: a service that cannot be reached is one line naming it, where it
was tried and what to do, exit status 3, within 5 s; a traceback only when asked for."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tuskflow import __version__

TUSKFLOW = Path(sys.executable).with_name("tuskflow")
# Commands that each open the database their own way: the projection runner, the migration
# runner, the event store's pool, the dead-letter listing, the submit API.
NEEDS_POSTGRES = [
    ["jobs", "list"],
    ["db", "migrate"],
    ["store", "stats"],
    ["deadletters", "list"],
    ["jobs", "show", "0123456789abcdef"],
]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(*args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [str(TUSKFLOW), *args],
        env={**os.environ, "TUSKFLOW_LOG_FORMAT": "json", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done, time.monotonic() - started


@pytest.mark.parametrize("command", NEEDS_POSTGRES, ids=" ".join)
def test_unreachable_postgres_is_one_line_with_exit_3_within_5_s(command: list[str]) -> None:
    port = closed_port()
    done, seconds = run(*command, TUSKFLOW_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/x")

    lines = done.stderr.strip().splitlines()
    assert done.returncode == 3, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"tuskflow: PostgreSQL at 127.0.0.1:{port}/x is unreachable: ")
    assert "Connection refused" in lines[0]
    assert lines[0].endswith(
        "start the local services with `tuskflow local up`, "
        "or set TUSKFLOW_DATABASE_URL to a PostgreSQL that runs"
    )
    assert seconds < 5, f"{' '.join(command)} took {seconds:.1f} s"


def test_debug_shows_the_traceback_of_an_unreachable_service_and_keeps_its_exit_status() -> None:
    port = closed_port()
    done, _ = run(
        "--debug", "jobs", "list", TUSKFLOW_DATABASE_URL=f"postgresql://p@127.0.0.1:{port}/x"
    )

    assert done.returncode == 3
    assert "Traceback (most recent call last)" in done.stderr
    assert "DatabaseUnavailableError" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("tuskflow: PostgreSQL at ")


def test_version_is_printed_without_any_service() -> None:
    done, _ = run("--version", TUSKFLOW_DATABASE_URL="postgresql://p@127.0.0.1:1/x")

    assert done.returncode == 0
    assert done.stdout.strip() == f"tuskflow {__version__}"


def test_an_unknown_job_id_is_a_clear_error_with_exit_2(migrated_url: str) -> None:
    done, _ = run("jobs", "show", "nosuchjob", TUSKFLOW_DATABASE_URL=migrated_url)

    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "tuskflow: no job nosuchjob; `tuskflow jobs list` shows the known ones"
    )


def test_submit_with_redis_unreachable_is_one_line_and_records_nothing(
    migrated_url: str, tmp_path: Path
) -> None:
    (tmp_path / "s.csv").write_text("region,quantity\nnorth,1\n")
    (tmp_path / "spec.yaml").write_text(
        f"version: 1\nname: probe\nsource: {{format: csv, path: {tmp_path}/s.csv}}\n"
        f"transforms: []\nsink: {{kind: csv, path: {tmp_path}/out.csv}}\n"
    )
    port = closed_port()
    done, seconds = run(
        "submit",
        str(tmp_path / "spec.yaml"),
        TUSKFLOW_DATABASE_URL=migrated_url,
        TUSKFLOW_REDIS_URL=f"redis://127.0.0.1:{port}/0",
    )

    lines = done.stderr.strip().splitlines()
    assert done.returncode == 3, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"tuskflow: Redis at 127.0.0.1:{port} is unreachable: ")
    assert lines[0].endswith("or set TUSKFLOW_REDIS_URL to a Redis that runs")
    assert seconds < 5, f"submit took {seconds:.1f} s"
    with psycopg.connect(migrated_url) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)


def test_unreachable_kafka_is_one_line_with_exit_3_within_5_s() -> None:
    port = closed_port()
    done, seconds = run("kafka", "topics", "list", TUSKFLOW_KAFKA_BOOTSTRAP=f"127.0.0.1:{port}")

    lines = done.stderr.strip().splitlines()
    assert done.returncode == 3, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"tuskflow: Kafka at 127.0.0.1:{port} is unreachable: ")
    assert lines[0].endswith("or set TUSKFLOW_KAFKA_BOOTSTRAP to a broker that runs")
    assert seconds < 5, f"{seconds:.1f} s"


# The source is reached first: PostgreSQL, unreachable too, is not named.
NOWHERE = f"postgresql://postgres@127.0.0.1:{closed_port()}/x"


def _consume(source: str, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    where = ["--stream", "s"] if source == "redis" else ["--topic", "t"]
    return run("consume", source, *where, "--group", "g", **env)


def _one_line_exit_3(done: subprocess.CompletedProcess[str], seconds: float, start: str) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 3, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(start), lines[0]
    assert seconds < 5, f"{seconds:.1f} s"
    return lines[0]


@pytest.mark.parametrize(
    ("source", "variable", "value", "named", "remedy"),
    [
        ("redis", "TUSKFLOW_REDIS_URL", "redis://127.0.0.1:{port}/0", "Redis", "a Redis"),
        ("kafka", "TUSKFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:{port}", "Kafka", "a broker"),
    ],
)
def test_a_consumer_whose_source_is_unreachable_at_start_says_so_in_one_line(
    source: str, variable: str, value: str, named: str, remedy: str
) -> None:
    port = closed_port()
    done, seconds = _consume(
        source, **{variable: value.format(port=port), "TUSKFLOW_DATABASE_URL": NOWHERE}
    )

    line = _one_line_exit_3(
        done, seconds, f"tuskflow: {named} at 127.0.0.1:{port} is unreachable: "
    )
    assert line.endswith(f"or set {variable} to {remedy} that runs")


@pytest.mark.parametrize("source", ["redis", "kafka"])
def test_a_consumer_whose_postgres_is_unreachable_at_start_says_so_in_one_line(
    source: str, redis_url: str, kafka_bootstrap: str
) -> None:
    port = closed_port()
    done, seconds = _consume(
        source,
        TUSKFLOW_REDIS_URL=redis_url,
        TUSKFLOW_KAFKA_BOOTSTRAP=kafka_bootstrap,
        TUSKFLOW_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/x",
    )

    line = _one_line_exit_3(
        done, seconds, f"tuskflow: PostgreSQL at 127.0.0.1:{port}/x is unreachable"
    )
    assert line.endswith("or set TUSKFLOW_DATABASE_URL to a PostgreSQL that runs")
