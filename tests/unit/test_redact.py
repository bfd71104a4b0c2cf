"""Credentials are masked in free text: the configured ones, and any written in a URL."""

from __future__ import annotations

import logging

import pytest

from stackduck.entrypoints.logs import JsonFormatter, TextFormatter
from stackduck.redact import masked, url_secrets


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("postgresql://u:pa%zzss@127.0.0.1/db", {"pa%zzss"}),
        ("redis://:p%40ss-word@h:6379/0", {"p%40ss-word", "p@ss-word"}),
        ("postgresql://u:v6-pw@[::1/db", {"v6-pw"}),
        ("host=h user=u password='it\\'s secret' dbname=d", {"it\\'s secret", "it's secret"}),
        ("host=h password=plain-pw dbname=d", {"plain-pw"}),
        ("postgresql://h/db?user=u&password=in-query", {"in-query"}),
        ("postgresql://u@h/db", set()),
        ("redis://h:6379/0", set()),
        (None, set()),
    ],
)
def test_url_secrets_finds_the_password(url: str | None, secrets: set[str]) -> None:
    assert url_secrets(url) == secrets


def test_masked_hides_configured_secrets_and_url_credentials() -> None:
    assert masked('invalid percent-encoded token: "pa%zzss"', {"pa%zzss"}) == (
        'invalid percent-encoded token: "***"'
    )
    assert masked('bad URI: "postgresql://u:p@[::1/db"') == 'bad URI: "postgresql://u:***@[::1/db"'
    assert masked("conninfo host=h password=abc dbname=d") == "conninfo host=h password=*** dbname=d"
    assert masked("at 127.0.0.1:5432 for user u") == "at 127.0.0.1:5432 for user u"  # hosts stay
    assert masked("a 1 in every line", {"1"}) == "a 1 in every line"  # too short to look for


def test_log_lines_mask_the_configured_secrets() -> None:
    record = logging.LogRecord("stackduck", logging.ERROR, __file__, 1, "auth with %s", ("tok-secret",), None)
    record.url = "redis://:pw-secret@h:6379/0"
    for formatter in (TextFormatter(["tok-secret"]), JsonFormatter(["tok-secret"])):
        line = formatter.format(record)
        assert "tok-secret" not in line and "pw-secret" not in line and "***" in line
