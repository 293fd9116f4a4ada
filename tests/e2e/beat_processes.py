"""Real `tuskflow beat` processes for the beat end-to-end tests, each logging to its own file."""

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TUSKFLOW = Path(sys.executable).with_name("tuskflow")


class Beats:
    """`tuskflow beat` processes, each logging to its own file."""

    def __init__(
        self, schedule: Path, database_url: str, broker_url: str, logs: Path, **env: str
    ) -> None:
        self.schedule, self.logs = schedule, logs
        self.env = {
            **os.environ,
            "TUSKFLOW_DATABASE_URL": database_url,
            "TUSKFLOW_REDIS_URL": broker_url,
            "TUSKFLOW_LOG_FORMAT": "json",
            "TUSKFLOW_BEAT_TAKEOVER_S": "3",
            **env,
        }
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.starts: Counter[str] = Counter()

    def start(self, name: str) -> None:
        self.starts[name] += 1
        with (self.logs / f"{name}-{self.starts[name]}.log").open("wb") as log:
            self.running[name] = subprocess.Popen(
                [TUSKFLOW, "beat", "--schedule", self.schedule],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self, name: str) -> None:
        process = self.running.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> list[int]:
        codes = []
        for process in self.running.values():
            process.send_signal(signal.SIGTERM)
        for process in self.running.values():
            codes.append(process.wait(30))
        self.running.clear()
        return codes

    def sent_by(self) -> Counter[str]:
        """Fires each beat's logs say it sent, by beat name (all its starts together)."""
        sent: Counter[str] = Counter()
        for log in self.logs.glob("*.log"):
            name = log.name.rsplit("-", 1)[0]
            sent[name] += sum('"fire.sent"' in line for line in log.read_text().splitlines())
        return sent

    def log_tail(self) -> str:
        return "\n".join(
            f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-15:])
            for log in sorted(self.logs.glob("*.log"))
        )


@contextmanager
def beats(schedule: Path, url: str, broker_url: str, logs: Path, **env: str) -> Iterator[Beats]:
    """Beats on one schedule (``env``: more TUSKFLOW_* settings); all killed at the end."""
    running = Beats(schedule, url, broker_url, logs, **env)
    try:
        yield running
    finally:
        for process in running.running.values():
            process.kill()
            process.wait(10)
