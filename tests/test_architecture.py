"""The house rules a reader relies on: arrows point one way, and the code is ruff clean."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The command line (`cli/`) sits on top: it may import every stage, and nothing imports it.
STAGES = ("liveri.train", "liveri.export", "liveri.serve", "liveri.mobile", "liveri.benchmarks")
# Package folder -> packages it must never import, at any depth (lazy imports included).
FORBIDDEN = {
    "liveri": (*STAGES, "liveri.cli", "tensorflow"),
    "serve": ("liveri.train", "liveri.export", "liveri.benchmarks", "liveri.cli"),
    "mobile": ("liveri.train", "liveri.export", "liveri.serve", "liveri.benchmarks",
               "liveri.cli", "tensorflow"),
    "export": ("liveri.serve", "liveri.mobile", "liveri.benchmarks", "liveri.cli"),
    "train": ("liveri.export", "liveri.serve", "liveri.mobile", "liveri.benchmarks",
              "liveri.cli"),
    "benchmarks": ("liveri.cli",),
}


def imports_of(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_arrows_point_one_way(folder):
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for name in imports_of(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[folder]):
                bad.append(f"{rel} imports {name}")
    assert not bad, "\n".join(bad)


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed; it is in the `test` extra")
    result = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]
