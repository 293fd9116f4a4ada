"""The local Dask cluster's folder: removed when it closes, and swept once its owner is killed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tuskflow.etl.cluster import LocalDaskCluster, remove_stale_folders

_OWNER = """
import sys, time
from tuskflow.etl.cluster import LocalDaskCluster
cluster = LocalDaskCluster(workers=1)
print("folder=" + str(cluster.folder), flush=True)
time.sleep(600)
"""


def _start_owner(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert owner.stdout is not None
    for line in owner.stdout:  # the cluster's log lines come first
        if line.startswith("folder="):
            return owner, Path(line.removeprefix("folder=").strip())
    raise AssertionError(f"the owner exited with {owner.wait()} before its cluster started")


def _running(pid: int) -> bool:
    """A zombie waiting for init to reap it is dead: it holds no lock and runs nothing."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _wait_gone(pids: list[int], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if _running(pid)]


def test_a_killed_owners_folder_is_swept_by_the_next_cluster_and_a_live_one_is_kept(
    tmp_path: Path,
) -> None:
    killed, killed_folder = _start_owner(tmp_path)
    alive, alive_folder = _start_owner(tmp_path)
    try:
        children = [child.pid for child in psutil.Process(killed.pid).children()]
        assert (killed_folder / "workers").is_dir()  # the worker's scratch space is inside

        killed.send_signal(signal.SIGKILL)
        killed.wait()
        _wait_gone(children)  # PDEATHSIG: the scheduler and worker die with their owner
        assert killed_folder.is_dir()  # nobody could clean up: this is what was left behind

        assert remove_stale_folders(tmp_path) == [killed_folder]
        assert not killed_folder.exists()
        assert alive_folder.is_dir()
    finally:
        for owner in (alive, killed):
            owner.kill()
            owner.wait()
            assert owner.stdout is not None
            owner.stdout.close()


def test_a_closed_cluster_leaves_no_folder() -> None:
    with LocalDaskCluster(workers=1) as cluster:
        folder = cluster.folder
        assert folder.is_dir()

    assert not folder.exists()
