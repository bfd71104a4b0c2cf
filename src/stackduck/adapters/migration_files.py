"""Schema migrations as numbered files (``0001_initial.sql``, …) in a package folder:
what PostgreSQL's and SQLite's migrators apply, in order, each once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files

_NAME = re.compile(r"^(\d{4})_(\w+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def numbered(package: str, *folder: str) -> list[Migration]:
    """The migrations in ``package``'s ``folder``, by version."""
    found = []
    for entry in files(package).joinpath(*folder).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    return sorted(found, key=lambda m: m.version)
