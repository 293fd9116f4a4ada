"""Finding the local servers' processes: a stale or foreign pid file names no process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tuskflow.config.errors import ConfigError
from tuskflow.deploy.local._process import ensure_usable_home, pid_alive, pid_from_file


def test_pid_file_of_a_live_process_is_found_only_with_matching_markers(tmp_path: Path) -> None:
    pid_file = tmp_path / "server.pid"
    pid_file.write_text(f"{os.getpid()}\n")

    assert pid_from_file(pid_file, "python") == os.getpid()
    assert pid_from_file(pid_file, "python", "/no/such/state/folder") is None


def test_pid_file_of_an_exited_process_names_nothing(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    pid_file = tmp_path / "server.pid"
    pid_file.write_text(f"{child.pid}\n")

    assert pid_from_file(pid_file, "python") is None


def test_missing_or_garbled_pid_file_names_nothing(tmp_path: Path) -> None:
    garbled = tmp_path / "garbled.pid"
    garbled.write_text("not a pid")

    assert pid_from_file(tmp_path / "absent.pid", "x") is None
    assert pid_from_file(garbled, "x") is None


def test_exited_child_not_yet_reaped_counts_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    while child.poll() is None and pid_alive(child.pid):
        pass

    assert not pid_alive(child.pid)
    child.poll()  # tell Popen its child is gone


@pytest.mark.parametrize("path", ["/srv/a,b", "/srv/a:b", "/srv/it's", '/srv/"q"', "/srv/a\\b"])
def test_state_folder_a_service_config_cannot_carry_is_refused_naming_the_setting(
    path: str,
) -> None:
    with pytest.raises(ConfigError, match="TUSKFLOW_STATE_DIR") as refused:
        ensure_usable_home(Path(path), "kafka")

    assert str(refused.value).startswith(f"kafka: the state folder {path!r} holds")


def test_state_folder_with_spaces_and_a_leading_dash_is_accepted() -> None:
    ensure_usable_home(Path("/srv/my state/-dash folder"), "postgres")
