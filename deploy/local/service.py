"""What every local service offers: start, stop, and a report of itself."""

from dataclasses import dataclass
from typing import Literal, Protocol

State = Literal["running", "stopped", "external"]


@dataclass(frozen=True)
class ServiceStatus:
    """One line of `tuskflow local status`: what runs where, which version, which process."""

    name: str
    state: State
    address: str
    version: str = ""
    pid: int | None = None


class LocalService(Protocol):
    """A real server run from the project's state folder on 127.0.0.1."""

    name: str

    @property
    def url(self) -> str:
        """The address clients use, in the form its TUSKFLOW_* variable takes."""

    @property
    def url_variable(self) -> str:
        """The TUSKFLOW_* variable that points clients at it."""

    def pid(self) -> int | None:
        """Its main process, when this state folder runs it."""

    def start(self) -> bool:
        """Start it and wait until it answers; False when it was already running."""

    def stop(self) -> bool:
        """Stop it and wait until no process is left; False when it was not running."""

    def status(self) -> ServiceStatus:
        """Report whether it runs, where, and its version."""
