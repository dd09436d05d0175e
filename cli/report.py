"""`report.md` of `liveri run`: what a person reads after the run, with its plots embedded."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

from liveri.benchmarks.report import int8_layer_lines, worst_int8_layers

from liveri import layout
from liveri.artifact import manifest as manifest_lib
from liveri.fileio import atomic_write_text


def plot_training_curve(logdir: Path, out: Path, metric: str) -> Path | None:
    """Training loss, each network's dev loss and the dev `metric` against step, from the
    trainer's `train_log.jsonl`."""
    log = logdir / layout.TRAIN_LOG_FILE
    if not log.exists():
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    dev = [(r["step"], r["dev"]) for r in rows if "dev" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", color="tab:blue")
    # A model of several networks (a GAN) reports each one's loss: one dashed curve each.
    parts = sorted({k for _, d in dev for k in d if k.endswith("_loss")})
    for name, color in zip(parts, ("tab:red", "tab:purple", "tab:orange", "tab:brown"),
                           strict=False):
        ax.plot([s for s, d in dev if name in d], [d[name] for _, d in dev if name in d], "--",
                color=color, label=f"dev {name}")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    if any(metric in d for _, d in dev):
        ax2 = ax.twinx()
        ax2.plot([s for s, d in dev if metric in d], [d[metric] for _, d in dev if metric in d],
                 "o-", color="tab:green", label=f"dev {metric}")
        ax2.set_ylabel(f"dev {metric}")
        ax2.legend(loc="center right")
    ax.legend(loc="upper right")
    ax.set_title("Training curve")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


_DIGIT = ("[[0,0,5,13,9,1,0,0],[0,0,13,15,10,15,5,0],[0,3,15,2,0,11,8,0],[0,4,12,0,0,8,8,0],"
          "[0,5,8,0,0,9,8,0],[0,4,11,0,1,12,7,0],[0,2,14,5,10,12,0,0],[0,0,6,13,10,0,0,0]]")
_SENTENCE = "you will be told the truth when you least expect it"


def _client_example(input_kind: str, preprocessing: dict[str, Any]) -> dict[str, str]:
    """A real input a user can paste, for each kind of model, in each client's syntax."""
    if input_kind == "latent":
        dims = int(preprocessing["raw_input"]["shape"][0])
        return {"input": "latent", "json": "[" + ", ".join(["0.0"] * dims) + "]",
                "python": f"np.zeros((1, {dims}), np.float32)",
                "device_flag": "--sample 16 --seed 0 --out samples/",
                "device_arg": f"np.zeros({dims}, np.float32)"}
    if input_kind == "image":
        return {"input": "pixels", "json": _DIGIT,
                "python": f"np.array([{_DIGIT}], np.uint8)",
                "device_flag": "--input-file digit.npy", "device_arg": "pixels_8x8"}
    if input_kind == "text":
        return {"input": "text", "json": f'"{_SENTENCE}"',
                "python": f"['{_SENTENCE}']",
                "device_flag": f'--text "{_SENTENCE}"', "device_arg": f"'{_SENTENCE}'"}
    return {"input": "waveform", "json": "[0.0, 0.01, -0.02]",
            "python": "np.zeros((1, 16000), np.float32)",
            "device_flag": "--wav speech.wav", "device_arg": "samples_16khz"}


def _sample_lines(bundle_path: Path, figures: Path) -> list[str]:
    """A generator's samples as the bundle draws them on LiteRT, as a grid figure."""
    from liveri.mobile import Bundle
    from liveri.mobile.samples import grid, interpolation, write_png, write_samples

    bundle = Bundle(bundle_path)
    written = write_samples(bundle, 32, 0, figures / "samples")
    pixel_max = int(bundle.spec["postprocessing"]["pixel_max"])
    write_png(figures / "interpolation.png", grid(interpolation(bundle, 0), pixel_max // 2),
              pixel_max)
    return ["Its first 32 samples (`--sample 32 --seed 0`: prior latents, decoded on LiteRT):",
            "", "![samples](figures/samples/grid.png)", "",
            f"Each image and their exact levels: `figures/samples/` ({len(written['files'])} "
            "files). From the first sample's latent to the second's in 8 even steps:", "",
            "![latent interpolation](figures/interpolation.png)", ""]


def _comparison_text(c: dict[str, Any]) -> str:
    """' (p50 +x%, 95% CI a% to b%, Mann-Whitney p=...)' from the gate's comparison, if any."""
    if "increase_pct" not in c:
        return ""
    low, high = c.get("ci_pct", [float("nan"), float("nan")])
    return (f" (SavedModel p50 {c['increase_pct']:+.1f}%, 95% CI {low:+.1f}% to {high:+.1f}%, "
            f"Mann-Whitney p={c.get('mann_whitney_p', float('nan')):.2g})")


def write_report(*, workdir: Path, experiment: str, name: str, logdir: Path, repo: Path,
                 version_dir: Path, bundle_path: Path, bench_dir: Path,
                 train_metrics: dict[str, Any], server_answers: dict[str, Any]) -> Path:
    figures = workdir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    manifest = manifest_lib.load(version_dir)
    parity = json.loads((version_dir / layout.PARITY_FILE).read_text())
    metric = manifest.main_metric
    version = manifest.version
    gate = manifest.gate
    release_json = version_dir / "liveri" / "release_report.json"
    release = json.loads(release_json.read_text()) if release_json.exists() else {}
    example = _client_example(manifest.input_kind, manifest.preprocessing)

    parts = [f"# Liveri run: {experiment}, version {version}", ""]
    parts += [f"**Verdict: {gate.get('verdict', 'unknown').upper()}**"
              + (f" (missed: {', '.join(gate.get('missed', []))})" if gate.get("missed") else ""),
              ""]
    parts += ["| what | where |", "|---|---|",
              f"| log directory | `{logdir}` |", f"| model repository | `{repo}` |",
              f"| this version | `{version_dir}` |", f"| mobile bundle | `{bundle_path}` |",
              f"| benchmarks | `{bench_dir}` |",
              f"| release report | `{version_dir / 'liveri' / 'release_report.md'}` |", ""]

    parts += ["## Training", "",
              f"Trained to step {train_metrics.get('step')}; held-out test {metric} "
              f"{_fmt(train_metrics.get(metric))} on {train_metrics.get('examples')} examples.",
              ""]
    curve = plot_training_curve(logdir, figures / "training_curve.png", metric)
    if curve:
        parts += ["![training curve](figures/training_curve.png)", ""]

    parts += ["## Parity: every artifact against the trained model", "",
              f"On {parity['examples']} held-out examples; agreement = same decoded answer as "
              "the trained model.", ""]
    rows = []
    sizes = {a.format: a.bytes for a in manifest.artifacts}
    for fmt, m in parity["artifacts"].items():
        rows.append([fmt, _fmt(m[metric]), _fmt(m["agreement"]), _fmt(m["max_abs_score_diff"]),
                     sizes.get(fmt, "")])
    parts += [_table(["artifact", metric, "agreement", "max |score diff|", "bytes"], rows), ""]
    parts += int8_layer_lines(worst_int8_layers(parity)) + [""]

    bench = json.loads((bench_dir / "bench.json").read_text()) if (
        bench_dir / "bench.json").exists() else {}
    pngs = sorted(bench_dir.glob("*.png"))
    if pngs:
        parts += ["## Latency", ""]
        for png in pngs:
            target = figures / png.name
            shutil.copyfile(png, target)
            parts += [f"![{png.stem}](figures/{png.name})", ""]

    if release.get("budgets"):
        parts += ["## Release budgets", ""]
        baseline = release.get("baseline") or {}
        if baseline.get("version"):
            parts += [f"Compared with the last released version, {baseline['version']}: "
                      + ("**a latency regression beyond noise**" if baseline.get("regression")
                         else "no latency regression beyond noise")
                      + _comparison_text(baseline.get("comparison") or {}) + ".", ""]
        else:
            parts += ["No earlier released version to compare with.", ""]
        rows = [[b.get("key"), _fmt(b.get("budget")), _fmt(b.get("measured")),
                 b.get("verdict")] for b in release["budgets"]]
        parts += [_table(["budget", "limit", "measured", "verdict"], rows), ""]

    parts += ["## The served model", "",
              f"During the run the server answered {server_answers['requests']} real held-out "
              "requests (the version's warmup file) through the stock TF Serving client, each "
              "answer equal to the SavedModel's own; GetModelStatus said "
              f"{server_answers['status']}.", "",
              "Serve it yourself:", "", "```",
              f"liveri serve --model_repo {repo} --port 8500 --rest_api_port 8501", "```", "",
              "REST (TF Serving's API):", "", "```",
              f"curl -s localhost:8501/v1/models/{name}",
              f"curl -s -X POST localhost:8501/v1/models/{name}:predict \\",
              f"  -d '{{\"instances\": [{example['json']}]}}'",
              "```", "", "gRPC with the stock client (`tensorflow-serving-api`):", "",
              "```python", "import grpc, numpy as np, tensorflow as tf",
              "from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc",
              "stub = prediction_service_pb2_grpc.PredictionServiceStub("
              "grpc.insecure_channel('localhost:8500'))",
              f"req = predict_pb2.PredictRequest(); req.model_spec.name = '{name}'",
              f"req.inputs['{example['input']}'].CopyFrom(tf.make_tensor_proto("
              f"{example['python']}))",
              "print({k: tf.make_ndarray(v) for k, v in stub.Predict(req).outputs.items()})",
              "```", ""]

    chosen = json.loads(zipfile.ZipFile(bundle_path).read("bundle.json"))["chosen"]
    parts += ["## On a device", "",
              f"The bundle `{bundle_path.name}` holds {chosen['why']}, with its vocab or "
              "labels and `bundle.json`; it runs with LiteRT only (no TensorFlow):", "", "```",
              f"python -m liveri.mobile run {bundle_path} {example['device_flag']}", "```", "",
              "```python", "from liveri.mobile import Bundle",
              f"print(Bundle('{bundle_path}').predict({example['device_arg']}))", "```", ""]
    if manifest.input_kind == "latent":
        parts += _sample_lines(bundle_path, figures)
    if bench:
        parts += ["Full benchmark numbers: `bench/bench.json`.", ""]
    out = workdir / "report.md"
    atomic_write_text(out, "\n".join(parts))
    return out
