"""A Lua script's error names the file and line it comes from (the script's own, or a
fragment's it includes), not the line of the assembled text Redis ran; and every
script Stackduck ships compiles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import pytest
import redis.asyncio as redis
from redis.exceptions import ResponseError

from stackduck.adapters.redis.lua import Script, lua

HERE = Path(__file__).with_name("scripts")
SHIPPED = files("stackduck.adapters.redis").joinpath("scripts")


@pytest.fixture
async def client(redis_server: str) -> AsyncIterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_server, decode_responses=True)
    yield connection
    await connection.aclose()


def line_of(file: Traversable, text: str) -> int:
    """The number of the one line of a script file that holds ``text``."""
    [number] = [n for n, line in enumerate(file.read_text().splitlines(), start=1) if text in line]
    return number


async def test_a_lua_error_names_the_scripts_own_file_and_line(
    client: redis.Redis, redis_prefix: str
) -> None:
    script = Script(client, "fails", HERE)

    with pytest.raises(ResponseError) as raised:
        await script(keys=[f"{redis_prefix}:z"], args=["here"])

    said = str(raised.value)
    assert f"fails.lua:{line_of(HERE / 'fails.lua', 'return nothing + 1')}:" in said, said
    assert "arithmetic" in said and "user_script" not in said, said


async def test_an_error_inside_a_fragment_names_the_fragments_file_and_line(
    client: redis.Redis, redis_prefix: str
) -> None:
    script = Script(client, "fails", HERE)

    with pytest.raises(ResponseError) as raised:
        await script(keys=[f"{redis_prefix}:z"], args=["fragment"])

    said = str(raised.value)
    assert f"_many.lua:{line_of(SHIPPED / '_many.lua', 'redis.call(command')}" in said, said
    assert "not a valid float" in said and "user_script" not in said, said
    assert await client.exists(f"{redis_prefix}:z") == 0


async def test_an_error_in_a_pipelined_call_names_the_file_and_line(
    client: redis.Redis, redis_prefix: str
) -> None:
    script = Script(client, "fails", HERE)
    pipe = client.pipeline(transaction=False)
    await script(keys=[f"{redis_prefix}:z"], args=["here"], client=pipe)

    with pytest.raises(ResponseError) as raised:
        await script.execute(pipe)

    said = str(raised.value)
    assert f"fails.lua:{line_of(HERE / 'fails.lua', 'return nothing + 1')}:" in said, said
    assert "user_script" not in said, said


async def test_a_script_that_does_not_compile_names_the_file_and_line(client: redis.Redis) -> None:
    script = Script(client, "broken", HERE)

    with pytest.raises(ResponseError) as raised:
        await script()

    said = str(raised.value)
    assert f"broken.lua:{line_of(HERE / 'broken.lua', '= = 1')}:" in said, said
    assert "user_script" not in said, said


@pytest.mark.parametrize(
    "name", sorted(p.name.removesuffix(".lua") for p in SHIPPED.iterdir() if p.name.endswith(".lua"))
)
async def test_every_shipped_script_and_fragment_compiles(client: redis.Redis, name: str) -> None:
    """A fragment compiles alone too: it holds definitions only."""
    source = lua(name)
    assert await client.script_load(source.text)
