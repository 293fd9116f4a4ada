"""Serving a process's Prometheus metrics on --metrics-port: one way, one refusal message."""

import socket

from prometheus_client import CollectorRegistry, start_http_server

from tuskflow.config.errors import ConfigError


def serve_metrics(registry: CollectorRegistry, port: int, whose: str) -> None:
    """Expose ``registry`` on http://0.0.0.0:<port>/metrics; ConfigError, in one line naming
    ``whose`` metrics, if it cannot."""
    try:
        start_http_server(port, registry=registry)
    except OSError as exc:
        raise _refusal("0.0.0.0", port, f"{whose} metrics", "--metrics-port", exc) from exc  # noqa: S104


def check_metrics_port(port: int, whose: str) -> None:
    """ConfigError, in one line, if ``whose`` metrics could not listen on ``port`` (for a
    process that serves them later, where the error would not be one line)."""
    check_port("0.0.0.0", port, f"{whose} metrics", "--metrics-port")  # noqa: S104


def check_port(address: str, port: int, what: str, option: str) -> None:
    """ConfigError, in one line naming ``what`` and the ``option`` that sets the port, if
    nothing could listen on ``address:port``."""
    with socket.socket() as probe:
        try:
            probe.bind((address, port))
        except OSError as exc:
            raise _refusal(address, port, what, option, exc) from None


def _refusal(address: str, port: int, what: str, option: str, exc: OSError) -> ConfigError:
    return ConfigError(
        f"cannot serve {what} on {address}:{port}: {exc.strerror}; choose another {option},"
        " or stop what listens there"
    )
