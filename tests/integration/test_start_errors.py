"""`stackduck` refusing to start: one clean line that says what to set, exit 2 for
settings, never a traceback — the real command, as a process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Served

TOKEN_FILE = "STACKDUCK_AUTH_TOKEN_FILE"


async def refused(served: Served, code: int) -> str:
    assert await served.exit_code() == code
    log = served.log()
    assert "Traceback" not in log and "serving on" not in log, log
    return log


@pytest.mark.parametrize("token", ["", "  ", "\t"])
async def test_an_empty_token_is_refused_at_start(serve: Callable[..., Served], token: str) -> None:
    log = await refused(serve("serve", STACKDUCK_AUTH_TOKEN=token), 2)
    assert "STACKDUCK_AUTH_TOKEN is empty" in log and "unset it" in log


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "is empty: put the token"),
        (b"\n  \n", "is empty: put the token"),
        (b"\xff\xfe token", "is not UTF-8"),
        (None, "cannot be read (No such file or directory)"),
        ("directory", "cannot be read (Is a directory)"),
    ],
)
async def test_a_token_file_that_gives_no_token_is_refused_at_start(
    serve: Callable[..., Served], tmp_path: Path, content: bytes | str | None, words: str
) -> None:
    path = tmp_path / "token"
    if content == "directory":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    log = await refused(serve("serve", STACKDUCK_AUTH_TOKEN_FILE=str(path)), 2)
    assert f"{TOKEN_FILE} {path} {words}" in log


async def test_several_processes_refuse_an_empty_token_before_starting_any(
    serve: Callable[..., Served], postgres: str
) -> None:
    log = await refused(serve("serve", "--processes", "2", DATABASE_URL=postgres, STACKDUCK_AUTH_TOKEN=""), 2)
    assert "STACKDUCK_AUTH_TOKEN is empty" in log and "server process" not in log
