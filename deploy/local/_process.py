"""Starting, finding and stopping the detached server processes of the local services."""

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tuskflow.config.errors import ConfigError, ServiceError
from tuskflow.config.settings import env_var

LOOPBACK = "127.0.0.1"


# The shell backgrounds the server and exits at once, so the server is never our child: it
# outlives the caller, and no zombie or unreaped Popen is left behind in a long-lived process.
_LAUNCHER = 'log="$1"; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!'


def spawn_detached(
    argv: Sequence[str | Path], log_path: Path, env: Mapping[str, str] | None = None
) -> int:
    """Start a server in its own session, output appended to ``log_path``; return its pid.

    It outlives the caller: ``tuskflow local up`` returns while the server keeps running.
    """
    launched = subprocess.run(
        ["/bin/sh", "-c", _LAUNCHER, "launcher", str(log_path), *(str(arg) for arg in argv)],
        capture_output=True,
        text=True,
        start_new_session=True,
        check=False,
        env=None if env is None else dict(env),
    )
    if launched.returncode != 0 or not launched.stdout.strip().isdigit():
        raise ServiceError(f"could not launch {argv[0]}: {launched.stderr.strip()}")
    return int(launched.stdout.strip())


def launch(
    argv: Sequence[str | Path],
    log_path: Path,
    pid_file: Path,
    env: Mapping[str, str] | None = None,
) -> int:
    """spawn_detached, recording the pid in ``pid_file``."""
    pid = spawn_detached(argv, log_path, env)
    pid_file.write_text(f"{pid}\n")
    return pid


def stop_launched(pid: int | None, pid_file: Path, *, what: str, timeout_s: float = 30.0) -> bool:
    """Stop a server started by ``launch`` and remove its pid file; False when none ran."""
    if pid is None:
        return False
    terminate(pid, what=what, timeout_s=timeout_s)
    pid_file.unlink(missing_ok=True)
    return True


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie counts as gone (and is reaped if it is our child)."""
    with contextlib.suppress(ChildProcessError):
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def pid_from_file(pid_file: Path, *markers: str) -> int | None:
    """The live pid in ``pid_file`` whose executable and command line mention every marker.

    The markers (a path in the state folder, a port) keep a stale pid file from naming an
    unrelated process that reused the number.
    """
    try:
        pid = int(pid_file.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    if not pid_alive(pid):
        return None
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, PermissionError):
        return None
    described = f"{exe} {cmdline}"
    return pid if all(marker in described for marker in markers) else None


def port_open(port: int, host: str = LOOPBACK) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def ensure_port_free(port: int, service: str, variable: str) -> None:
    """Refuse to start ``service`` on a port another process already holds."""
    if port_open(port):
        raise ServiceError(
            f"{service}: port {port} on {LOOPBACK} is already in use by another process; "
            f"stop that process or set {variable} to a free port"
        )


# What a service's own configuration cannot carry in a path: PostgreSQL's quoted settings (')
# and directory lists (,), Kafka's log.dirs (,), class path (:) and properties files (\).
_UNSAFE_IN_PATH = frozenset(",:'\"\\\n")


def ensure_usable_home(home: Path, service: str) -> None:
    """Refuse a state folder that ``service``'s configuration could not name correctly."""
    unsafe = sorted(set(str(home)) & _UNSAFE_IN_PATH)
    if unsafe:
        shown = " ".join(repr(char) for char in unsafe)
        raise ConfigError(
            f"{service}: the state folder {str(home)!r} holds {shown}, which the service's "
            f"configuration cannot carry; set {env_var('state_dir')} to a path without them"
        )


def wait_until(
    ready: Callable[[], bool],
    *,
    timeout_s: float,
    what: str,
    alive: Callable[[], bool] = lambda: True,
    log_path: Path | None = None,
) -> None:
    """Poll ``ready`` until it holds; fail early if ``alive`` says the process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        if not alive():
            raise ServiceError(f"{what} exited while starting{_log_tail(log_path)}")
        time.sleep(0.25)
    raise ServiceError(f"{what} was not ready after {timeout_s:.0f} s{_log_tail(log_path)}")


def terminate(pid: int, *, what: str, timeout_s: float = 30.0) -> None:
    """SIGTERM ``pid``, wait for it to exit, SIGKILL it if it will not."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pid_alive(pid):
        if time.monotonic() > deadline:
            raise ServiceError(f"{what} (pid {pid}) did not exit after SIGKILL")
        time.sleep(0.1)


def _log_tail(log_path: Path | None, lines: int = 15) -> str:
    if log_path is None or not log_path.exists():
        return ""
    tail = log_path.read_text(errors="replace").splitlines()[-lines:]
    return f"; the last lines of {log_path}:\n" + "\n".join(tail)
