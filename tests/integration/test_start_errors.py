"""`stackduck` refusing to start: one clean line that says what to set, exit 2 for
settings and 1 for the rest, never a traceback, never a secret — the real command,
as a process."""

from __future__ import annotations

import asyncio
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


@pytest.mark.parametrize("command", ["serve", "migrate"])
@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("postgresql://u:pa%zzss@127.0.0.1/db", "pa%zzss"),  # libpq quotes the bad escape
        ("postgresql://u:v6-secret-pw@[::1/db", "v6-secret-pw"),  # libpq quotes the whole URL
    ],
)
async def test_a_database_url_libpq_cannot_read_is_reported_without_its_password(
    serve: Callable[..., Served], command: str, url: str, password: str
) -> None:
    log = await refused(serve(command, DATABASE_URL=url), 2)
    assert "DATABASE_URL cannot be read" in log and "***" in log
    assert password not in log


async def test_a_redis_url_redis_cannot_read_is_reported_without_its_password(
    serve: Callable[..., Served],
) -> None:
    log = await refused(serve("serve", REDIS_URL="redis://:rd-secret-pw@127.0.0.1:port/0"), 2)
    assert "REDIS_URL cannot be read" in log and "rd-secret-pw" not in log


async def test_a_settings_error_shows_no_part_of_a_password(serve: Callable[..., Served]) -> None:
    served = serve(
        "serve",
        SERVER_ADDR=None,  # the Redis URL first among the values given
        REDIS_URL="redis://:zq7Kx-redis-secret@127.0.0.1:6379/0",
        STACKDUCK_TLS_CERT="/nowhere/cert.pem",
    )
    log = await refused(served, 2)
    assert "STACKDUCK_TLS_CERT and STACKDUCK_TLS_KEY go together" in log
    assert "redis://" not in log  # no part of the URL, whose password starts right after


async def test_storage_away_at_start_is_one_line_with_the_host_and_no_password(
    serve: Callable[..., Served],
) -> None:
    url = "postgresql://u:away-secret-pw@127.0.0.1:1/db"
    log = await refused(serve("serve", DATABASE_URL=url), 1)
    assert "cannot start: PostgreSQL is unavailable" in log and "127.0.0.1" in log
    assert "away-secret-pw" not in log


async def test_urls_set_to_nothing_mean_the_default_storage(serve: Callable[..., Served]) -> None:
    served = serve("serve", DATABASE_URL="", REDIS_URL="")
    assert "with sqlite storage" in await served.started()


async def test_a_storage_choice_beside_a_url_is_refused(serve: Callable[..., Served], postgres: str) -> None:
    log = await refused(serve("serve", STACKDUCK_STORAGE="sqlite", DATABASE_URL=postgres), 2)
    assert "STACKDUCK_STORAGE=sqlite and DATABASE_URL/REDIS_URL name different storage" in log


async def test_several_processes_refuse_sqlite(serve: Callable[..., Served], tmp_path: Path) -> None:
    served = serve("serve", "--processes", "2", STACKDUCK_STORAGE="sqlite", STACKDUCK_DATA_DIR=str(tmp_path))
    log = await refused(served, 2)
    assert "one server process owns a SQLite data directory" in log


async def test_sqlite_says_where_the_jobs_are_kept(serve: Callable[..., Served], tmp_path: Path) -> None:
    served = serve("serve", STACKDUCK_STORAGE="sqlite", STACKDUCK_DATA_DIR=str(tmp_path / "data"))
    kept = await asyncio.to_thread(served.wait_for_line, "jobs are kept in")
    assert f"jobs are kept in {tmp_path / 'data' / 'stackduck.db'} (SQLite, synchronous=normal)" in kept
    assert "with sqlite storage" in await served.started()


async def test_migrate_without_a_database_says_what_it_migrates(serve: Callable[..., Served]) -> None:
    log = await refused(serve("migrate"), 2)
    assert "there is no PostgreSQL database to migrate" in log and "migrated by the server" in log
