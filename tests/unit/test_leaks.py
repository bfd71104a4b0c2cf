"""The guard against secrets in test output catches a leak: a test that logs, prints or
lets a child process print a configured secret fails; a clean one passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.leaks import Secrets

ROOT = Path(__file__).resolve().parents[2]
SECRET = "hunter2-leak-probe"

LEAKY = f'''
import logging
import subprocess
import sys

SECRET = "{SECRET}"


def test_logs_it(configured_secrets):
    configured_secrets.add(SECRET)
    logging.getLogger("stackduck").info("connecting with %s", SECRET)


def test_logs_it_in_a_field(configured_secrets):
    configured_secrets.add(SECRET)
    logging.getLogger("stackduck.jobs").warning("job state", extra={{"worker_id": SECRET}})


def test_prints_it(configured_secrets):
    configured_secrets.add(SECRET)
    print("token", SECRET, file=sys.stderr)


def test_a_child_process_prints_it(configured_secrets):
    configured_secrets.add(SECRET)
    subprocess.run([sys.executable, "-c", f"print({{SECRET!r}})"], check=True)


def test_says_nothing_of_it(configured_secrets):
    configured_secrets.add(SECRET)
    logging.getLogger("stackduck").warning("connecting with ***")
    print("token ***", file=sys.stderr)
'''


def test_the_guard_fails_each_test_that_shows_a_secret(tmp_path: Path) -> None:
    (tmp_path / "test_leaky.py").write_text(LEAKY)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.leaks", "-p", "no:cacheprovider", "-rE", "-q"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = result.stdout + result.stderr
    assert "5 passed, 4 errors" in report, report
    leaky = ("test_logs_it", "test_logs_it_in_a_field", "test_prints_it", "test_a_child_process_prints_it")
    for name in leaky:
        assert f"ERROR test_leaky.py::{name} - " in report, report
    assert "ERROR test_leaky.py::test_says_nothing_of_it" not in report
    assert "shows a configured secret: hu…(18 characters)" in report


def test_check_names_where_the_secret_was_seen() -> None:
    secrets = Secrets()
    secrets.add(SECRET, "short", None)  # too short to look for
    secrets.add_settings(
        {"STACKDUCK_AUTH_TOKEN": "token-of-the-test", "DATABASE_URL": "postgresql://u:pw-in-url@h/db"}
    )
    assert secrets.leaked(f"a {SECRET} b short") == [SECRET]
    assert secrets.leaked("Bearer token-of-the-test") == ["token-of-the-test"]
    assert secrets.leaked('password "pw-in-url"') == ["pw-in-url"]
    secrets.check("nothing here but ***", "the log")
    with pytest.raises(pytest.fail.Exception, match="the log shows a configured secret"):
        secrets.check(f"connecting with {SECRET}", "the log")
