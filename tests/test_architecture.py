"""The house rules a reader relies on: arrows point one way, and the code is ruff clean."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Package folder -> packages it must never import.
FORBIDDEN = {
    "liveri": ("liveri.train", "liveri.export", "liveri.serve", "liveri.mobile",
               "liveri.benchmarks", "tensorflow"),
    "serve": ("liveri.train", "liveri.export", "liveri.benchmarks"),
    "mobile": ("liveri.train", "liveri.export", "liveri.serve", "liveri.benchmarks",
               "tensorflow"),
    "export": ("liveri.serve", "liveri.mobile", "liveri.benchmarks"),
    "train": ("liveri.export", "liveri.serve", "liveri.mobile", "liveri.benchmarks"),
}
# Core modules whose job is to dispatch to every stage (imports inside functions only).
DISPATCHERS = {"liveri/cli.py", "liveri/pipeline.py"}


def imports_of(path: Path, top_level_only: bool) -> list[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names = []
    for node in nodes:
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
        top_only = rel in DISPATCHERS
        for name in imports_of(path, top_level_only=top_only):
            if rel in DISPATCHERS and not name.startswith("tensorflow"):
                continue
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[folder]):
                bad.append(f"{rel} imports {name}")
    assert not bad, "\n".join(bad)


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed; it is in the `test` extra")
    result = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]
