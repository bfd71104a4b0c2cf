"""The secrets the tests configure, and a guard that fails any test whose log or
standard output/error shows one.

The fixtures that start servers (``start_server``, ``serve``) register the tokens and
URL passwords they are given; a test may register more with ``configured_secrets.add``.
After each test, ``_no_secret_leaks`` looks for them in what the test logged (caplog)
and wrote to file descriptors 1 and 2 (capfd, which includes child processes that
inherit them); ``serve`` looks in what its processes wrote to their pipes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

import pytest

from stackduck.redact import url_secrets

#: Shorter values are not looked for: they would be found in any text by chance.
MIN_LENGTH = 6
TOKEN_VARIABLES = ("STACKDUCK_AUTH_TOKEN",)
URL_VARIABLES = ("DATABASE_URL", "STACKDUCK_DATABASE_URL", "REDIS_URL", "STACKDUCK_REDIS_URL")
#: Attributes every LogRecord has; the others came in through ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class Secrets:
    def __init__(self) -> None:
        self.values: set[str] = set()

    def add(self, *values: str | None) -> None:
        self.values.update(v for v in values if v and len(v) >= MIN_LENGTH)

    def add_settings(self, settings: Mapping[str, object]) -> None:
        """The token and the URL passwords among server settings (variable: value)."""
        for name, value in settings.items():
            if isinstance(value, str) and name.upper() in TOKEN_VARIABLES:
                self.add(value, value.strip())
            elif isinstance(value, str) and name.upper() in URL_VARIABLES:
                self.add(*url_secrets(value))

    def leaked(self, text: str) -> list[str]:
        return sorted(secret for secret in self.values if secret in text)

    def check(self, text: str, where: str) -> None:
        """Fail the test if ``text`` (from ``where``) holds a secret."""
        if found := self.leaked(text):
            shown = ", ".join(f"{secret[:2]}…({len(secret)} characters)" for secret in found)
            pytest.fail(f"{where} shows a configured secret: {shown}", pytrace=False)


def logged(records: list[logging.LogRecord]) -> str:
    """The records as a log would show them: message, traceback, fields."""
    formatter = logging.Formatter("%(message)s")
    lines = []
    for record in records:
        fields = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD)
        lines.append(f"{formatter.format(record)} {fields}")
    return "\n".join(lines)


@pytest.fixture(scope="session")
def configured_secrets() -> Secrets:
    return Secrets()


@pytest.fixture(autouse=True)
def _no_secret_leaks(
    configured_secrets: Secrets, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> Iterator[None]:
    caplog.set_level(logging.INFO, logger="stackduck")
    yield
    out, err = capfd.readouterr()  # (pytest has reported each phase's output already)
    records = [r for when in ("setup", "call", "teardown") for r in caplog.get_records(when)]
    configured_secrets.check(logged(records), "the log")
    configured_secrets.check(out + err, "standard output or error")
