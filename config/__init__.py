"""Configuration: one Settings object, logging set-up, and the Celery config derived from them."""

from config.errors import (
    ConfigError,
    PermanentError,
    RetryableError,
    ServiceError,
    ToolMissingError,
    TuskflowError,
)
from config.logging import configure_logging
from config.settings import Settings, load_settings

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
