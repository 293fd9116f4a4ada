"""structlog set-up, once per process: JSON lines off a terminal, readable lines on one.

Context bound with ``structlog.contextvars.bind_contextvars(job_id=...)`` (or the
``bound_contextvars`` context manager) appears on every line the process writes after it,
including lines from libraries that log through the standard library (Celery, Kafka, Dask).
"""

import json
import logging
import sys
from typing import TextIO

import structlog
from structlog.typing import Processor

from tuskflow.config.settings import Settings


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Route structlog and standard-library logging to one handler writing to ``stream``."""
    out = stream if stream is not None else sys.stderr
    as_json = settings.log_format == "json" or (settings.log_format == "auto" and not out.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Processor
    if as_json:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer(serializer=_dumps)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty())

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)


def _dumps(obj: object, **kwargs: object) -> str:
    # Paths, UUIDs and datetimes in log context must never break a log line.
    return json.dumps(obj, default=str)
