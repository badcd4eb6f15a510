"""Logs: JSON lines with time, level, logger, event and fields; the same as text with a flag."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from exporter.structured_logging import configure_logging


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.usefixtures("restore_root_logger")
def test_json_lines_carry_time_level_logger_event_and_fields() -> None:
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    logger = logging.getLogger("exporter.test")
    logger.info("backend unavailable", extra={"fields": {"url": "http://x", "buffered": 3}})
    logger.debug("not shown at info")
    logger.warning("skipped", extra={"metric": "m1"})  # a plain `extra=` key is a field too
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert first["level"] == "info"
    assert first["logger"] == "exporter.test"
    assert first["event"] == "backend unavailable"
    assert first["fields"] == {"url": "http://x", "buffered": 3}
    assert second["fields"] == {"metric": "m1"}


@pytest.mark.usefixtures("restore_root_logger")
def test_text_format_and_exceptions() -> None:
    stream = io.StringIO()
    configure_logging("text", "debug", stream=stream)
    try:
        raise ValueError("bad")
    except ValueError:
        logging.getLogger("exporter.x").exception("failed", extra={"fields": {"output": "otlp"}})
    text = stream.getvalue()
    assert " error exporter.x: failed output=otlp\n" in text
    assert "ValueError: bad" in text


@pytest.mark.usefixtures("restore_root_logger")
def test_reconfiguring_replaces_the_handler_instead_of_doubling_lines() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", "info", stream=first)
    configure_logging("json", "info", stream=second)
    logging.getLogger("exporter.y").info("once")
    assert first.getvalue() == ""
    assert len(second.getvalue().splitlines()) == 1


@pytest.mark.usefixtures("restore_root_logger")
def test_unserialisable_fields_become_strings() -> None:
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    logging.getLogger("exporter.z").info("x", extra={"fields": {"obj": object()}})
    assert json.loads(stream.getvalue())["fields"]["obj"].startswith("<object object")
