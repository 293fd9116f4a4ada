"""`tuskflow local up|status|env|down` as a person runs them, in a state folder of its own."""

import json
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fix_services import in_ci

TUSKFLOW = Path(sys.executable).with_name("tuskflow")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_env(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSKFLOW_")}
    env.update(variables)
    return env


def _tuskflow(
    *args: str, env: dict[str, str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TUSKFLOW), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if text in cmdline and state != "Z":
            found.append(f"{proc.name}: {cmdline}")
    return found


def _exported(lines: str) -> dict[str, str]:
    """The variables `tuskflow local env` exports, as eval would set them."""
    exported = {}
    for line in lines.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            exported[name] = shlex.split(value)[0]
    return exported


def test_up_twice_status_env_down_leaves_no_process(tmp_path: Path) -> None:
    state = tmp_path / "state"
    ports = {name: _free_port() for name in ("postgres", "redis", "kafka", "controller")}
    env = _clean_env(
        TUSKFLOW_STATE_DIR=str(state),
        TUSKFLOW_LOCAL_POSTGRES_PORT=str(ports["postgres"]),
        TUSKFLOW_LOCAL_REDIS_PORT=str(ports["redis"]),
        TUSKFLOW_LOCAL_KAFKA_PORT=str(ports["kafka"]),
        TUSKFLOW_LOCAL_KAFKA_CONTROLLER_PORT=str(ports["controller"]),
        TUSKFLOW_LOG_FORMAT="json",
    )
    env_after_eval = env
    try:
        first = _tuskflow("local", "up", env=env)
        if first.returncode != 0 and "Install Java" in first.stderr and not in_ci():
            pytest.skip(first.stderr.strip())
        assert first.returncode == 0, first.stderr
        started = time.monotonic()
        second = _tuskflow("local", "up", env=env)
        second_took = time.monotonic() - started
        status = _tuskflow("local", "status", env=env)
        exports = _tuskflow("local", "env", env=env)
        # As after the README's eval "$(tuskflow local env)": the services are still ours
        env_after_eval = {**env, **_exported(exports.stdout)}
        status_after_eval = _tuskflow("local", "status", "--json", env=env_after_eval)
        redis_down = _tuskflow("local", "down", "redis", env=env_after_eval)
        exports_without_redis = _tuskflow("local", "env", env=env_after_eval)
    finally:
        down = _tuskflow("local", "down", env=env_after_eval)

    assert [
        line.split(":")[1].strip().split(" at ")[0] for line in first.stdout.splitlines()[:3]
    ] == ["started", "started", "started"]
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("already running") == 3
    assert second_took < 15
    assert status.returncode == 0, status.stdout
    assert f"127.0.0.1:{ports['postgres']}" in status.stdout
    assert "PostgreSQL 18" in status.stdout
    assert "Redis " in status.stdout
    assert "Apache Kafka 4." in status.stdout
    assert f"export TUSKFLOW_KAFKA_BOOTSTRAP=127.0.0.1:{ports['kafka']}" in exports.stdout
    rows = {row["service"]: row for row in map(json.loads, status_after_eval.stdout.splitlines())}
    assert [rows[name]["state"] for name in ("postgres", "redis", "kafka", "worker")] == [
        "running",
        "running",
        "running",
        "stopped",
    ]
    assert all(isinstance(rows[name]["pid"], int) for name in ("postgres", "redis", "kafka"))
    assert redis_down.stdout.splitlines() == ["redis: stopped"]
    assert f"export TUSKFLOW_REDIS_URL=redis://127.0.0.1:{ports['redis']}/0" in (
        exports_without_redis.stdout
    )
    assert "# redis is not running: tuskflow local up redis" in exports_without_redis.stdout
    assert down.returncode == 0, down.stderr
    assert down.stdout.splitlines() == ["kafka: stopped", "redis: not running", "postgres: stopped"]
    assert _processes_mentioning(str(state)) == []
    for port in ports.values():
        assert _processes_mentioning(f"127.0.0.1:{port}") == []
    after = _tuskflow("local", "status", env=env)
    assert after.returncode == 3
    assert after.stdout.count("stopped") == 4  # the three services and the worker


def test_missing_java_is_one_line_with_both_ways_out(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = _clean_env(
        PATH=str(tmp_path),
        TUSKFLOW_STATE_DIR=str(tmp_path / "state"),
        TUSKFLOW_DATABASE_URL=postgres_url,
        TUSKFLOW_REDIS_URL=redis_url,
    )
    env.pop("JAVA_HOME", None)

    result = _tuskflow("local", "up", env=env)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "java is not on PATH" in lines[0]
    assert "Install Java 17+ and Maven" in lines[0]
    assert "TUSKFLOW_KAFKA_BOOTSTRAP" in lines[0]
    assert "postgres: using" in result.stdout


def test_wrong_setting_stops_the_cli_before_anything_starts(tmp_path: Path) -> None:
    env = _clean_env(TUSKFLOW_LOG_LEVEL="LOUD", TUSKFLOW_STATE_DIR=str(tmp_path / "state"))

    result = _tuskflow("local", "up", env=env)

    assert result.returncode == 2
    assert "TUSKFLOW_LOG_LEVEL='LOUD'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state").exists()
