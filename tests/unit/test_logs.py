"""Structured logs carry what a call passed in ``extra`` as fields."""

from __future__ import annotations

import json
import logging

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
