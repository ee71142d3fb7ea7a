"""Leveled, structured logs for every long-running command: `--log-format text|json`.

Every line carries `module` (the logger's name) and `height`: the height the app is
finalizing or committing, else the last committed one (0 in processes without a chain
state, such as the sidecar). The app's handlers keep that height; the runner points
this module at it with `set_height_source`, and a filter stamps it on each record.

JSON lines: {"ts", "level", "module", "height", "msg", ...the record's extra fields,
"exc" when there is a traceback}. Text: `ts LEVEL module height=H msg key=value...`.
"""

import datetime
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, TextIO

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
# Attributes every LogRecord has: anything else on a record came from `extra=`.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "height", "taskName"}


def _no_height() -> int:
    return 0


_height_source: Callable[[], int] = _no_height


def set_height_source(source: Callable[[], int] | None) -> None:
    """Where log lines read the current height (None: always 0)."""
    global _height_source
    _height_source = source or _no_height


def get_log_height() -> int:
    try:
        return int(_height_source())
    except Exception:  # noqa: BLE001 - a log line must never fail for its height
        return 0


class HeightFilter(logging.Filter):
    """Stamps `height` on each record, unless the call passed its own in `extra`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "height"):
            record.height = get_log_height()
        return True


def get_extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record), "level": record.levelname.lower(),
            "module": record.name, "height": getattr(record, "height", 0),
            "msg": record.getMessage()}
        for key, value in get_extra_fields(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = "".join(f" {k}={v}" for k, v in get_extra_fields(record).items())
        line = (f"{_timestamp(record)} {record.levelname:<7} {record.name} "
                f"height={getattr(record, 'height', 0)} {record.getMessage()}{extras}")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def make_log_handler(log_format: str, stream: TextIO | None = None) -> logging.Handler:
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be text or json, got {log_format!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(HeightFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    return handler


def setup_logging(level: str, log_format: str = "text", stream: TextIO | None = None) -> None:
    """One handler on the root logger (replacing any), at `level`, in `log_format`."""
    if level.lower() not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(make_log_handler(log_format, stream))
    root.setLevel(level.upper())
