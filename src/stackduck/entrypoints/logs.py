"""Structured logs: ``text`` (message, then key=value pairs) or ``json`` (one object a line).

Whatever a log call passes in ``extra`` (job_id, job_type, state, ...) becomes
fields of the line. Values come from clients too (worker ids, job types, error
messages), so no value can start a line of its own: the text format escapes
control characters (``\n`` becomes ``\\n``) and indents a traceback's lines under
its record; the json format escapes them as JSON does. Both mask the secrets the
server was configured with (its token, the passwords in its URLs) and any
credential written in a URL, wherever a line holds them.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import Any

from stackduck.redact import masked

#: Attributes every LogRecord has; anything else came in through ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _STANDARD}


def _stamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class _Formatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(secrets)

    def _clean(self, text: str) -> str:
        return masked(text, self._secrets)

    def _value(self, value: object) -> object:
        return value if value is None or isinstance(value, bool | int | float) else self._clean(str(value))


class TextFormatter(_Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = escaped(self._clean(record.getMessage()))
        line = f"{_stamp(record)} {record.levelname} {record.name}: {message}"
        fields = _fields(record).items()
        extra = " ".join(f"{escaped(key)}={_text(self._value(value))}" for key, value in fields)
        if extra:
            line = f"{line} {extra}"
        if record.exc_info:
            # Each line of the traceback indented: only a record's first line starts a line.
            trace = self._clean(self.formatException(record.exc_info)).splitlines()
            line = "\n".join([line, *(f"  | {escaped(text)}" for text in trace)])
        return line


class JsonFormatter(_Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _stamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": self._clean(record.getMessage()),
            **{key: self._value(value) for key, value in _fields(record).items()},
        }
        if record.exc_info:
            entry["exception"] = self._clean(self.formatException(record.exc_info))
        return json.dumps(entry)


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char.isprintable():
        return char
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escaped(text: str) -> str:
    """``text`` with every character that is not printable written as an escape: line
    ends (``\\n``, ``\\r``, ``\\x85``, ``\\u2028``), terminal controls (``\\x1b``), bidi
    overrides and other invisible ones."""
    return text if text.isprintable() else "".join(map(_escape, text))


def _text(value: object) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=') or not text.isprintable():
        return json.dumps(text)  # quoted, every control character escaped
    return text


def configure(level: str = "INFO", style: str = "text", secrets: Iterable[str] = ()) -> None:
    """Every record to standard error, ``secrets`` masked in each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets) if style == "json" else TextFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
