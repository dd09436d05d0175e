"""What each format costs to make and to ship: `liveri export`'s seconds per artifact (from the
manifest's `export_seconds`) beside the artifact's bytes on disk and its size against float.

`liveri bench` prints this table; `python -m liveri.benchmarks.export_cost REPO/MODEL/VERSION`
prints it for any exported version without running a bench.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from liveri.artifact import manifest
from liveri.artifact.manifest import Artifact, Manifest


def artifact_bytes(version_dir: Path, item: Artifact) -> int:
    """What the artifact weighs on disk; a SavedModel is its graph plus variables and assets."""
    path = version_dir / item.path
    if item.format != "saved_model":
        return path.stat().st_size
    parts = [path] + [f for d in ("variables", "assets") for f in (version_dir / d).rglob("*")]
    return sum(f.stat().st_size for f in parts if f.is_file())


def export_cost(version_dir: Path, source: Manifest) -> list[dict[str, Any]]:
    """One row per artifact: format, bytes, size relative to tflite_float, export seconds
    (None for versions exported before the manifest recorded them)."""
    seconds = source.export_seconds
    sizes = {a.format: artifact_bytes(version_dir, a) for a in source.artifacts}
    float_bytes = sizes.get("tflite_float")
    return [{"format": fmt, "bytes": size,
             "vs_float": round(size / float_bytes, 3) if float_bytes else None,
             "export_seconds": (round(seconds[fmt], 2) if fmt in seconds else None)}
            for fmt, size in sizes.items()]


def render(rows: list[dict[str, Any]]) -> str:
    """A fixed-width text table of `export_cost` rows."""
    def cell(value: Any, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    lines = [f"{'format':<18}{'bytes':>12}{'x float':>10}{'export s':>10}"]
    for r in rows:
        lines.append(f"{r['format']:<18}{r['bytes']:>12,}{cell(r['vs_float'], '.3f'):>10}"
                     f"{cell(r['export_seconds'], '.2f'):>10}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m liveri.benchmarks.export_cost",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("version_dir", help="an exported version, REPO/MODEL/VERSION")
    args = parser.parse_args(argv)
    version_dir = Path(args.version_dir)
    try:
        source = manifest.load(version_dir)
    except manifest.ManifestError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(render(export_cost(version_dir, source)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
