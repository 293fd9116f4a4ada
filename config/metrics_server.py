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
        raise _refusal(port, whose, exc) from exc


def check_metrics_port(port: int, whose: str) -> None:
    """ConfigError, in one line, if ``whose`` metrics could not listen on ``port`` (for a
    process that serves them later, where the error would not be one line)."""
    with socket.socket() as probe:
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 (where the metrics listen)
        except OSError as exc:
            raise _refusal(port, whose, exc) from None


def _refusal(port: int, whose: str, exc: OSError) -> ConfigError:
    return ConfigError(
        f"cannot serve {whose} metrics on 0.0.0.0:{port}: {exc.strerror}; choose another"
        " --metrics-port, or stop what listens there"
    )
