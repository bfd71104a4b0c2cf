"""The Lua loader's line map, and fragments that share no state with the scripts that
include them."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

from stackduck.adapters.redis.lua import INCLUDE, lua

SCRIPTS = files("stackduck.adapters.redis").joinpath("scripts")
NAMES = sorted(p.name.removesuffix(".lua") for p in SCRIPTS.iterdir() if p.name.endswith(".lua"))
FRAGMENTS = [name for name in NAMES if name.startswith("_")]

#: What a fragment may hold outside its functions: comments, includes, `local function`
#: headers and their `end`, and constants (an upper-case name given a number).
DEFINITION = re.compile(r"--.*|local function \w+\(.*|end|local [A-Z][A-Z0-9_]* = [-\d.e]+(\s+--.*)?")


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
    assert {file for file, _ in source.origins} == {
        "claim.lua",
        "_claim.lua",
        "_heads.lua",
        "_many.lua",
        "_job.lua",
    }


@pytest.mark.parametrize("name", FRAGMENTS)
def test_a_fragment_defines_functions_and_constants_only(name: str) -> None:
    """No value a fragment and the script that includes it both change: what a fragment's
    functions work on comes in as arguments."""
    top_level = [
        line
        for line in SCRIPTS.joinpath(f"{name}.lua").read_text().splitlines()
        if line and not line[0].isspace()
    ]
    assert [line for line in top_level if not DEFINITION.fullmatch(line)] == []
