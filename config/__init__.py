"""Configuration: one Settings object, logging set-up, and the Celery config derived from them."""

from tuskflow.config.errors import (
    ConfigError,
    PermanentError,
    RetryableError,
    ServiceError,
    ToolMissingError,
    TuskflowError,
)
from tuskflow.config.logging import configure_logging
from tuskflow.config.settings import Settings, load_settings

__all__ = [
    "ConfigError",
    "PermanentError",
    "RetryableError",
    "ServiceError",
    "Settings",
    "ToolMissingError",
    "TuskflowError",
    "configure_logging",
    "load_settings",
]
