"""Logging: one set-up per process; bound context on every line, JSON off a terminal."""

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from tuskflow.config import configure_logging, load_settings


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_bound_context_from_structlog_and_stdlib_loggers() -> None:
    stream = io.StringIO()
    configure_logging(load_settings(log_format="auto"), stream)

    with structlog.contextvars.bound_contextvars(job_id="job-1", task_id="task-9"):
        structlog.get_logger("tuskflow.test").info("partition.done", rows=10)
        logging.getLogger("celery.worker").warning("lost connection")
    structlog.get_logger("tuskflow.test").info("after")

    ours, theirs, after = _lines(stream)
    assert ours["event"] == "partition.done"
    assert ours["rows"] == 10
    assert ours["level"] == "info"
    assert (ours["job_id"], ours["task_id"]) == ("job-1", "task-9")
    assert theirs["event"] == "lost connection"
    assert theirs["logger"] == "celery.worker"
    assert (theirs["job_id"], theirs["task_id"]) == ("job-1", "task-9")
    assert "job_id" not in after
    assert str(ours["timestamp"]).endswith("Z")


def test_level_filters_lower_lines() -> None:
    stream = io.StringIO()
    configure_logging(load_settings(log_format="json", log_level="WARNING"), stream)

    structlog.get_logger().info("hidden")
    structlog.get_logger().warning("shown")

    assert [line["event"] for line in _lines(stream)] == ["shown"]


def test_console_format_is_readable_not_json() -> None:
    stream = io.StringIO()
    configure_logging(load_settings(log_format="console"), stream)

    structlog.get_logger().info("consumer.started", consumer="kafka-1")

    text = stream.getvalue()
    assert "consumer.started" in text
    assert "consumer=kafka-1" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_values_that_are_not_json_still_log(tmp_path: object) -> None:
    stream = io.StringIO()
    configure_logging(load_settings(log_format="json"), stream)

    structlog.get_logger().info("output.published", location=tmp_path)

    assert _lines(stream)[0]["location"] == str(tmp_path)
