"""Every PostgreSQL statement lives in a named file under sql/queries/, says what it does,
and is one the code loads: no SQL in Python strings."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from stackduck.adapters.postgres.queries import sql
from stackduck.adapters.postgres.store import ALL_FIELDS, listing
from stackduck.application.ports import Order

ROOT = Path(__file__).resolve().parents[3]
SRC = ROOT / "src/stackduck"
GENERATED = SRC / "entrypoints/grpc/generated"
QUERIES = SRC / "adapters/postgres/sql/queries"

#: What a statement looks like in a string (upper-case keywords, as the .sql files write them).
STATEMENT = re.compile(
    r"\bSELECT\s|\bINSERT\s+INTO\b|\bUPDATE\s+\w+(?:\s+AS\s+\w+)?\s+SET\b|\bDELETE\s+FROM\b"
    r"|\b(?:LISTEN|NOTIFY)(?:\s+\w|\s*$)|\bpg_notify\s*\(|\bCOPY\s+\w+\s*[(\s]|\bTRUNCATE\s"
    r"|\b(?:CREATE|DROP|ALTER)\s+(?:TABLE|INDEX|DATABASE|SCHEMA|EXTENSION|VIEW|FUNCTION|TRIGGER)\b"
    r"|\bWITH\s+\w+\s+AS\s*\(|\bEXPLAIN\s"
)
#: Files allowed SQL in strings, and why; each must still hold some, or leave this list.
EXCEPTIONS = {
    # The benchmark's throwaway databases: their names are identifiers, not parameters.
    "entrypoints/bench/storage.py": "CREATE/DROP DATABASE of a name it generates",
    # SQLite plans a statement before its parameters are bound (no plan per value, as
    # PostgreSQL's custom plans): a listing's conditions and an IN list are composed per
    # call so that its indexes serve, and the adapter's statements stay with the code
    # that composes them (ADR 0032).
    **{
        f"adapters/sqlite/{name}.py": "SQLite statements, composed where they are used"
        for name in ("store", "schedules", "history", "limits", "paused_types")
    },
}


def _docstrings(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _sql_in_strings(source: str) -> list[tuple[int, str]]:
    """(line, start of the text) of each string literal outside docstrings that holds SQL."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    return sorted(
        (node.lineno, text[:60])
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and id(node) not in docstrings
        for text in [node.value.decode() if isinstance(node.value, bytes) else node.value]
        if isinstance(text, str) and STATEMENT.search(text)
    )


def _sources() -> list[Path]:
    return [path for path in sorted(SRC.rglob("*.py")) if GENERATED not in path.parents]


def test_no_python_file_holds_a_statement() -> None:
    found = {str(path.relative_to(SRC)): _sql_in_strings(path.read_text()) for path in _sources()}

    inline = [
        f"src/stackduck/{name}:{line}: {text!r}"
        for name, hits in found.items()
        if name not in EXCEPTIONS
        for line, text in hits
    ]
    assert not inline, "\n".join(["statements belong in adapters/postgres/sql/queries/:", *inline])
    stale = [name for name in EXCEPTIONS if not found.get(name)]
    assert not stale, f"no SQL left in {stale}: drop them from EXCEPTIONS"


def test_the_scan_finds_sql_in_strings_bytes_and_f_strings_and_passes_prose() -> None:
    source = (
        '"""Uses LISTEN/NOTIFY and one SELECT per claim."""\n'
        'A = "SELECT 1"\n'
        "B = b\"UPDATE stackduck_jobs AS j SET status = 'x'\"\n"
        'C = f"LISTEN {A}"\n'
        'D = "DELETE FROM t WHERE id = %s"\n'
        'E = "waiting for a select to return, as INSERT does"\n'
        'F = "COPY t (a, b) FROM STDIN"\n'
    )
    assert [line for line, _ in _sql_in_strings(source)] == [2, 3, 4, 5, 7]


def test_each_statement_file_says_what_it_does_and_is_loaded_by_the_code() -> None:
    files = sorted(QUERIES.rglob("*.sql"))
    headless = [str(f.relative_to(QUERIES)) for f in files if not f.read_text().startswith("-- ")]
    assert not headless, f"start these with a comment saying what they do: {headless}"

    names = {f.relative_to(QUERIES).with_suffix("").as_posix() for f in files}
    statements = {name for name in names if not Path(name).name.startswith("_")}  # _x.sql: fragments
    loaded = {
        node.args[0].value
        for path in _sources()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "sql"
        and node.args and isinstance(node.args[0], ast.Constant)
    }  # fmt: skip
    assert statements - loaded == set(), "statement files no code loads"
    assert loaded - statements == set(), "statements loaded that have no file"
    for name in sorted(statements):
        left = set(re.findall(rb"\{[\w.]+\}", sql(name))) - CALLER_FILLED.get(name, set())
        assert not left, f"{name}.sql: {left} not filled in by the loader"


#: Parts of a statement its caller fills in: the listing's order and where a page goes on.
CALLER_FILLED = {"list_jobs": {b"{order}", b"{after}"}}


@pytest.mark.parametrize("order", list(Order))
def test_the_listing_is_filled_in_for_every_order(order: Order) -> None:
    assert not re.findall(rb"\{[\w.]+\}", listing(order))


def test_copy_lists_the_columns_in_the_order_the_store_writes_rows() -> None:
    statement = sql("copy_in").decode()
    columns = re.search(r"COPY stackduck_jobs \((.*?)\) FROM STDIN", statement, re.S)
    assert columns is not None, statement
    assert tuple(c.strip() for c in columns[1].split(",")) == ALL_FIELDS
