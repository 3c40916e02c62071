"""Structured logs: JSON lines carrying the request and execution ids of what is being done."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

from flowforge.security.redaction import RedactingFilter

__all__ = ["configure_logging", "execution_id", "request_id"]

request_id: ContextVar[str | None] = ContextVar("flowforge_request_id", default=None)
execution_id: ContextVar[str | None] = ContextVar("flowforge_execution_id", default=None)


class _ContextFilter(logging.Filter):
    """Adds the ids in context to every record, so that each log line says what it is about."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.execution_id = getattr(record, "execution_id", None) or execution_id.get()
        return True


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    """Log to stderr: one JSON object per line (time, level, logger, message, request_id,
    execution_id and any ``extra`` fields), or plain text for a terminal."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    handler.addFilter(RedactingFilter())  # the secrets of the step being run, if any
    if json_lines:
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}{request_id}{execution_id}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = name != "uvicorn.access"  # our middleware logs every request
