"""Configuration: one Settings object, logging set-up, and the Celery config derived from them."""

from tuskflow.config.errors import (
    ConfigError,
    DatabaseRefusedError,
    DatabaseUnavailableError,
    PermanentError,
    RetryableError,
    ServiceError,
    ServiceUnavailableError,
    ToolMissingError,
    TransientConflictError,
    TuskflowError,
)
from tuskflow.config.logging import configure_logging
from tuskflow.config.settings import Settings, load_settings

__all__ = [
    "ConfigError",
    "DatabaseRefusedError",
    "DatabaseUnavailableError",
    "PermanentError",
    "RetryableError",
    "ServiceError",
    "ServiceUnavailableError",
    "Settings",
    "ToolMissingError",
    "TransientConflictError",
    "TuskflowError",
    "configure_logging",
    "load_settings",
]
