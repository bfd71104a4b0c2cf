"""Files of this repository that the proto, the code and the user docs cite exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: A repository path in prose or a comment (``docs/x.md``, ``../proto/y.proto``).
CITED = re.compile(r"(?<![\w./-])(?:\.\./)*((?:docs|proto|tests|src|scripts|examples)/[\w./-]*\w)")
#: Where a reader follows a path; the ADRs are records of their day and are not rewritten.
CITING = ["proto/*.proto", "src/stackduck/**/*.py", "README.md", "docs/*.md", "tests/**/*.proto"]


def test_every_path_the_proto_code_and_docs_cite_exists() -> None:
    missing = [
        f"{source.relative_to(ROOT)} cites {match.group(1)}"
        for pattern in CITING
        for source in ROOT.glob(pattern)
        for match in CITED.finditer(source.read_text())
        if not (ROOT / match.group(1)).exists()
    ]

    assert not missing, missing
