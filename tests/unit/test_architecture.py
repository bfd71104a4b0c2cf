"""The import rule between layers, and the generated gRPC code, cannot rot."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "src/stackduck/entrypoints/grpc/generated"


def test_layers_import_only_what_the_rules_allow() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_generated_grpc_code_matches_the_proto(tmp_path: Path) -> None:
    subprocess.run(
        [str(ROOT / "scripts/gen-proto"), str(tmp_path)],
        check=True,
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
    )
    names = sorted(p.name for p in GENERATED.iterdir() if p.is_file())
    assert names == sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    _, mismatch, errors = filecmp.cmpfiles(GENERATED, tmp_path, names, shallow=False)
    assert not mismatch and not errors, (
        f"stale generated code {mismatch + errors}: run scripts/gen-proto and commit the result"
    )
