"""Structured logs carry what a call passed in ``extra`` as fields, one record a line."""

from __future__ import annotations

import json
import logging
import sys

from stackduck.entrypoints.logs import JsonFormatter, TextFormatter


def record(message: str = "job state", **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("stackduck.jobs", logging.DEBUG, __file__, 1, message, None, None)
    for key, value in extra.items():
        setattr(entry, key, value)
    return entry


def test_json_lines_carry_the_fields() -> None:
    line = JsonFormatter().format(record(job_id="01ab", state="running", attempt=2))
    entry = json.loads(line)
    assert (entry["message"], entry["job_id"], entry["state"], entry["attempt"]) == (
        "job state",
        "01ab",
        "running",
        2,
    )
    assert entry["level"] == "DEBUG" and entry["logger"] == "stackduck.jobs" and entry["time"].endswith("Z")


def test_text_lines_end_in_key_value_pairs_quoted_when_needed() -> None:
    line = TextFormatter().format(record(job_id="01ab", job_type="send mail", state="queued"))
    assert line.endswith('stackduck.jobs: job state job_id=01ab job_type="send mail" state=queued')


FORGED = "w1\n2026-01-01T00:00:00.000Z INFO stackduck: job 42 completed"
#: What may end a line on a terminal or in a log viewer, or rewrite what it shows.
CONTROLS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1b[2K", "\x85", "\u2028", "\u2029", "\u202e", "\x00"]


def test_text_lines_escape_control_characters_in_the_message_and_fields() -> None:
    for control in CONTROLS:
        value = f"w{control}fake"
        entry = record("worker %s connected", worker_id=value, job_type=value)
        entry.args = (value,)
        line = TextFormatter().format(entry)
        assert len(line.splitlines()) == 1, repr(control)
        assert line.isprintable(), repr(control)
    line = TextFormatter().format(record("worker %s connected", worker_id=FORGED))
    assert line.splitlines() == [line]
    assert "worker_id=" + json.dumps(FORGED) in line  # quoted, \n written as \\n
    entry = record("worker %s connected")
    entry.args = (FORGED,)
    assert "worker w1\\n2026-01-01T00:00:00.000Z INFO" in TextFormatter().format(entry)


def test_text_tracebacks_stay_under_their_record() -> None:
    try:
        raise ValueError(f"bad worker {FORGED}")
    except ValueError:
        entry = logging.LogRecord("stackduck", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    first, *rest = TextFormatter().format(entry).splitlines()
    assert first.endswith("stackduck: failed") and rest
    assert all(line.startswith("  | ") for line in rest)  # no line of it reads as a record
    assert any("ValueError: bad worker w1" in line for line in rest)


def test_json_lines_are_one_line_whatever_the_values() -> None:
    for control in CONTROLS:
        value = f"w{control}fake"
        entry = record("worker %s connected", worker_id=value)
        entry.args = (value,)
        line = JsonFormatter().format(entry)
        assert len(line.splitlines()) == 1 and line.isprintable(), repr(control)
        parsed = json.loads(line)
        assert (parsed["worker_id"], parsed["message"]) == (value, f"worker {value} connected")
