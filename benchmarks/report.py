"""The release report, as JSON for machines and markdown for people, from one report dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from liveri.fileio import atomic_write_json, atomic_write_text

REPORT_MD = "release_report.md"
REPORT_JSON = "release_report.json"


def write_reports(liveri_dir: Path, report: dict[str, Any]) -> tuple[Path, Path]:
    """Write both reports into the version's `liveri/` folder; returns (markdown, json)."""
    md_path, json_path = liveri_dir / REPORT_MD, liveri_dir / REPORT_JSON
    atomic_write_json(json_path, report)
    atomic_write_text(md_path, render_markdown(report))
    return md_path, json_path


def render_markdown(report: dict[str, Any]) -> str:
    card = report["model_card"]
    lines = [
        f"# Release report: {report['model']} version {report['version']}",
        "",
        f"**Verdict: {report['verdict'].upper()}**"
        + (f" (missed: {', '.join(f'`{k}`' for k in report['missed'])})"
           if report["missed"] else " (every budget holds)"),
        "",
        f"Experiment `{report['experiment']}`, judged {report['judged']} on "
        f"{report['host'].get('node')} ({report['host'].get('cpus')} CPUs). "
        f"Bench: {report['bench']['how']} (`{report['bench']['path']}`).",
        "",
        "## Budgets",
        "",
        "| budget | limit | measured | rule | verdict | how measured |",
        "|---|---|---|---|---|---|",
    ]
    for b in report["budgets"]:
        note = "; ".join(part for part in (b["source"], b["note"]) if part)
        lines.append(f"| `{b['key']}` | {_num(b['budget'])} {b['unit']} | "
                     f"{_num(b['measured'])} {b['unit'] if b['measured'] is not None else ''} | "
                     f"{b['rule']} | **{b['verdict']}** | {note} |")
    lines += ["", "## Baseline comparison", ""]
    lines += _baseline_lines(report["baseline"])
    if report.get("latency"):
        lines += ["", "## Latency", "", "| what | batch | p50 ms | p99 ms | examples/s |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['what']} | {r['batch_size']} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | "
                  f"{r['throughput']:.0f} |" for r in report["latency"]]
    lines += _scenario_lines(report.get("scenarios") or [])
    lines += int8_layer_lines(report.get("int8_layers") or {})
    if report["plots"]:
        lines += ["", "## Plots", ""]
        lines += [f"![{Path(p).stem}]({p})" for p in report["plots"]]
    lines += ["", "## Model card", ""]
    lines += _card_lines(card)
    return "\n".join(lines) + "\n"


WORST_LAYERS = 10


def worst_int8_layers(parity: dict[str, Any]) -> dict[str, Any]:
    """parity.json's per-layer int8 error, each format cut to its ten worst layers."""
    return {fmt: {**found, "layers": found["layers"][:WORST_LAYERS]} if "layers" in found
            else found for fmt, found in (parity.get("int8_layers") or {}).items()}


def int8_layer_lines(int8_layers: dict[str, Any]) -> list[str]:
    """Markdown: each int8 artifact's worst layers by RMSE / scale (QuantizationDebugger)."""
    lines: list[str] = []
    for fmt, found in int8_layers.items():
        lines += ["", f"## {fmt}: the {WORST_LAYERS} layers int8 hurts most", ""]
        if "layers" not in found:
            lines.append(found.get("skipped", "not measured"))
            continue
        lines += [f"TFLite's QuantizationDebugger on {found['examples']} calibration examples: "
                  "each layer's int8 output against its float op on the same inputs. RMSE / "
                  "scale near 0.29 is rounding alone.", "",
                  "| layer (output tensor) | op | RMSE | scale | RMSE / scale | share of squared "
                  "error |", "|---|---|---|---|---|---|"]
        lines += [f"| `{x['tensor']}` | {x['op']} | {_num(x['rmse'])} | {_num(x['scale'])} | "
                  f"{_num(x['rmse_over_scale'])} | {x['share_of_squared_error']:.1%} |"
                  for x in found["layers"][:WORST_LAYERS]]
        if "kept_float" in found:
            kept = found["kept_float"]
            lines += ["", f"Selective int8: {kept['why']}."] + (
                [f"Kept in float: {', '.join(f'`{t}`' for t in kept['layers'])}."]
                if kept["layers"] else [])
    return lines


def _scenario_lines(rows: list[dict[str, Any]]) -> list[str]:
    """LoadGen's scenarios: each run's headline figure with its verdict."""
    if not rows:
        return []

    def cell(run: dict[str, Any], figure: str) -> str:
        return f"{_num(run[figure])} ({run['validity']})"

    lines = ["", "## MLPerf LoadGen scenarios", "",
             "SingleStream and MultiStream: p99 ms (early stopping's estimate where met); "
             "Server: p99 ms at the offered rate; Offline: samples/s.", "",
             "| what | SingleStream | MultiStream | Server | Offline |", "|---|---|---|---|---|"]
    for r in rows:
        streams = [cell({**run, "p99_ms": run["early_stopping_p99_ms"] or run["p99_ms"]},
                        "p99_ms") for run in (r["single_stream"], r["multi_stream"])]
        lines.append(f"| {r['what']} | {' | '.join(streams)} | "
                     f"{cell(r['server'], 'p99_ms')} at {_num(r['server']['offered_qps'])}/s | "
                     f"{cell(r['offline'], 'samples_per_s')} |")
    return lines


def _baseline_lines(baseline: dict[str, Any]) -> list[str]:
    if not baseline.get("version"):
        return [baseline.get("note", "No earlier released version: nothing to compare with.")]
    c = baseline["comparison"]
    return [
        f"Against released version {baseline['version']}: SavedModel batch-1 p50 "
        f"{c['candidate_p50_ms']:.4f} ms vs {c['baseline_p50_ms']:.4f} ms, "
        f"{c['increase_pct']:+.1f}% ({c['confidence']:.0%} CI {c['ci_pct'][0]:+.1f}% .. "
        f"{c['ci_pct'][1]:+.1f}%), Mann-Whitney U one-sided p = {c['mann_whitney_p']:.2g} "
        f"over {c['plan']['rounds']} alternating rounds; round-to-round noise "
        f"{c['noise_pct']:.1f}%.",
        "",
        f"Regression: **{'yes' if baseline['regression'] else 'no'}** (a regression needs "
        f"p < {c['alpha']} and the whole CI above the allowed increase).",
    ]


def _card_lines(card: dict[str, Any]) -> list[str]:
    prov = card["provenance"]
    main = card["main_metric"]
    if card["experiment"]:
        model = f"experiment `{card['experiment']}`"
        provenance = (f"checkpoint step {prov['checkpoint_step']}, commit `{prov['commit']}`, "
                      f"exported {prov['created']}, params sha256 "
                      f"`{str(prov['params_hash'])[:12]}…` (exported from this logdir: "
                      f"{'yes' if prov['exported_from_this_logdir'] else 'no'})")
    else:
        model = "trained elsewhere"
        provenance = (f"{prov['origin'].get('kind')} `{prov['origin'].get('path')}`, "
                      f"exported {prov['created']} by commit `{prov['commit']}`")
    lines = [
        f"- **Model**: {card['model']} version {card['version']}, {model}: "
        f"{card['description']}",
        f"- **Data**: {card['data']}",
        f"- **Provenance**: {provenance}",
        f"- **Intended use**: {card['intended_use']}",
        "",
        f"| artifact | {main} | agreement with the reference | max abs score diff | bytes |",
        "|---|---|---|---|---|",
    ]
    for fmt, m in card["metrics_per_artifact"].items():
        lines.append(f"| {fmt} | {_num(m.get(main))} | {_num(m.get('agreement'))} | "
                     f"{_num(m.get('max_abs_score_diff', m.get('max_abs_error')))} | "
                     f"{card['sizes_bytes'].get(fmt, '')} |")
    lines += ["", "**Limits**", ""] + [f"- {line}" for line in card["limits"]]
    return lines


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
