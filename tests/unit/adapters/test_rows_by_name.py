"""Stores build stats by field name: a count never lands in another's place."""

from __future__ import annotations

import pytest

from stackduck.application.ports import TypeStats


def test_type_stats_are_built_by_field_name_only() -> None:
    counts = ("a", (1, 2, 3), 4, 5, 6, 7, 8)
    with pytest.raises(TypeError):
        TypeStats(*counts)  # type: ignore[call-arg]
