"""The Lua loader's line map: each line of a script as Redis runs it, back to its file."""

from __future__ import annotations

from importlib.resources import files

import pytest

from stackduck.adapters.redis.lua import INCLUDE, lua

SCRIPTS = files("stackduck.adapters.redis").joinpath("scripts")
NAMES = sorted(p.name.removesuffix(".lua") for p in SCRIPTS.iterdir() if p.name.endswith(".lua"))


@pytest.mark.parametrize("name", NAMES)
def test_each_line_of_a_script_maps_to_the_line_it_was_written_at(name: str) -> None:
    source = lua(name)
    lines = source.text.splitlines()

    assert len(lines) == len(source.origins)
    assert not [line for line in lines if line.startswith(INCLUDE)]
    for number, line in enumerate(lines, start=1):
        where = source.where(number)
        assert where is not None
        file, at = where.rsplit(":", 1)
        assert SCRIPTS.joinpath(file).read_text().splitlines()[int(at) - 1] == line, where
    assert source.where(len(lines) + 1) is None and source.where(0) is None


def test_an_included_fragments_lines_map_to_the_fragment() -> None:
    source = lua("claim")
    assert {file for file, _ in source.origins} == {"claim.lua", "_heads.lua", "_many.lua", "_job.lua"}
