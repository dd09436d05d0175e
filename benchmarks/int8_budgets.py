"""Every exported model's full int8 against its quality budget, in one table.

Each release report judges one version's `release.max_int8_metric_drop`; this puts every model
of one or more model repositories side by side (the latest version of each): the main metric of
the float TFLite and of the int8 one, the drop against the budget, int8's size against float's,
how many layers selective int8 kept in float, and the other quantized formats the version holds
(int16 activations, QAT) with their drops. `python -m liveri.benchmarks.int8_budgets REPO...`
prints it as a Markdown table (docs/int8.md holds the latest).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from liveri.benchmarks import budgets as judge

from liveri import layout
from liveri.artifact import manifest
from liveri.artifact.manifest import Manifest

INT8 = "tflite_int8"
OTHERS = ("tflite_int16x8", "tflite_int8_qat")  # further quantized formats, when exported


def row(source: Manifest) -> dict[str, Any]:
    """One model's int8 figures; `verdict` is the release gate's for the int8 budget."""
    main, metrics = source.main_metric, source.metrics
    budget = source.budgets.get("max_int8_metric_drop")
    found: dict[str, Any] = {"model": source.model, "version": source.version,
                             "experiment": source.experiment, "metric": main,
                             "higher_is_better": source.higher_is_better, "budget": budget}
    if not {"tflite_float", INT8} <= set(source.formats):
        return {**found, "verdict": judge.NOT_APPLICABLE}
    drop = judge.metric_drop(main, metrics, source.higher_is_better)
    kept = source.artifact(INT8).notes.get("kept_float", {})
    found.update(
        float=metrics["tflite_float"][main], int8=metrics[INT8][main], drop=drop,
        verdict=judge.at_most("release.max_int8_metric_drop", budget, drop, "", "").verdict,
        int8_vs_float_bytes=source.artifact(INT8).bytes / source.artifact("tflite_float").bytes,
        float_layers=len(kept.get("layers", [])),
        others={fmt: {main: metrics[fmt][main],
                      "drop": judge.metric_drop(main, metrics, source.higher_is_better, fmt)}
                for fmt in OTHERS if fmt in metrics})
    return found


def rows(repos: list[Path]) -> list[dict[str, Any]]:
    """The latest version of every model in `repos`."""
    found = []
    for repo in repos:
        for model_dir in sorted(p for p in repo.iterdir() if p.is_dir()):
            latest = layout.latest_version(model_dir)
            if latest is not None:
                found.append(row(manifest.load(model_dir / str(latest))))
    return found


def render(found: list[dict[str, Any]]) -> str:
    """A Markdown table of `rows`."""
    lines = ["| experiment | metric | float | int8 | drop | budget | verdict | int8 bytes / float "
             "| layers kept float | other quantized formats (drop) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in found:
        if "drop" not in r:
            lines.append(f"| {r['experiment'] or r['model']} | {r['metric']} | - | - | - | "
                         f"{r['budget']} | {r['verdict']} | - | - | - |")
            continue
        others = ", ".join(f"{fmt.removeprefix('tflite_')} {v[r['metric']]:.4g} ({v['drop']:+.4g})"
                           for fmt, v in r["others"].items()) or "-"
        lines.append(f"| {r['experiment'] or r['model']} | {r['metric']} | {r['float']:.4g} | "
                     f"{r['int8']:.4g} | {r['drop']:+.4g} | {r['budget']} | {r['verdict']} | "
                     f"{r['int8_vs_float_bytes']:.2f} | {r['float_layers']} | {others} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m liveri.benchmarks.int8_budgets",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("model_repos", nargs="+", type=Path, help="model repositories")
    args = parser.parse_args(argv)
    missing = [str(r) for r in args.model_repos if not r.is_dir()]
    if missing:
        print(f"error: model_repos: no such folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        print(render(rows(args.model_repos)))
    except manifest.ManifestError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
