"""From a checkpoint to a new version in a model repository, with every artifact proven equal.

Everything is written under `REPO/MODEL/.tmp-PID-...`, checked, then renamed to the next
integer version: a numbered folder is never partial. Leftover temporary folders of dead
processes are removed by the next export.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from liveri.export import onnx_convert, parity, qat, quant_debug, selective_int8, tflite
from liveri.export.inference import build_inference_module
from liveri.export.warmup import write_warmup
from liveri.train.trainer import restore_task

from liveri import layout
from liveri.artifact import formats as formats_lib
from liveri.artifact import kinds, manifest
from liveri.artifact.manifest import Artifact, Manifest, Tensor
from liveri.artifact.runner import Runner, open_model
from liveri.budgets import worse_by
from liveri.errors import UsageError
from liveri.fileio import atomic_write_json, atomic_write_text
from liveri.lazy import tf
from liveri.params import Params
from liveri.request_records import request_inputs


def parse_formats(text: str | None, default: list[str], qat_steps: int = 0) -> list[str]:
    """The formats to write, saved_model first; `qat_steps` > 0 adds tflite_int8_qat, last."""
    try:
        formats = formats_lib.parse(text) if text else formats_lib.parse(",".join(default))
    except formats_lib.UnknownFormatError as e:
        raise UsageError(f"--formats: {e}") from None
    if qat_steps < 0:
        raise UsageError(f"export.qat_steps: expected a number of steps >= 0, got {qat_steps}")
    if qat.FORMAT in formats and not qat_steps:
        raise UsageError(f"--formats {qat.FORMAT}: needs quantization-aware steps; expected "
                         "--set export.qat_steps=N with N > 0")
    # QAT last: it imports tfmot, which sets TF_USE_LEGACY_KERAS for this process (and tf2onnx's).
    rest = [f for f in formats if f not in ("saved_model", qat.FORMAT)]
    return ["saved_model", *rest] + ([qat.FORMAT] if qat_steps else [])


def source_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _clean_leftovers(model_dir: Path) -> None:
    for child in model_dir.glob(layout.TEMP_PREFIX + "*"):
        pid = child.name[len(layout.TEMP_PREFIX):].split("-")[0]
        alive = pid.isdigit() and _pid_alive(int(pid))
        if not alive:
            shutil.rmtree(child, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _log(msg: str) -> None:
    print(f"[export] {msg}", file=sys.stderr, flush=True)


def export(params: Params, logdir: str | Path, model_repo: str | Path, name: str,
           formats: list[str], checkpoint: str | None = None,
           calibration_requests: list[str] | None = None) -> Path:
    """Export the trained `logdir` as the next version of `model_repo/name`; returns its dir.
    int8 calibrates on `export.calibration_examples` train examples, or on the predict requests
    of `calibration_requests` (request logs: real traffic) when given."""
    p = params.export
    logged = request_inputs(calibration_requests) if calibration_requests else None
    task, step, checkpoint = restore_task(params, logdir, checkpoint)
    inp = params.input.Instantiate()
    test = inp.Examples("test")
    if p.parity_examples:
        test = {k: v[: p.parity_examples] for k, v in test.items()}
    with staging(model_repo, name) as (model_dir, tmp):
        version = _write_version(params, task, step, checkpoint, tmp, name, formats, inp, test,
                                 logdir, logged)
        return _publish(tmp, model_dir, version)


@contextlib.contextmanager
def staging(model_repo: str | Path, name: str) -> Iterator[tuple[Path, Path]]:
    """(the model's folder, a temporary folder inside it to write a version into). Leftovers of
    dead exports are removed first; the temporary folder is removed on the way out unless
    `_publish` renamed it into a version."""
    model_dir = Path(model_repo) / name
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--model_repo: cannot create {model_dir}: {e.strerror}") from None
    _clean_leftovers(model_dir)
    tmp = model_dir / f"{layout.TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        yield model_dir, tmp
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _write_version(params: Params, task: Any, step: int, checkpoint: str, tmp: Path, name: str,
                   formats: list[str], inp: Any, test: dict[str, np.ndarray],
                   logdir: str | Path, logged: dict[str, np.ndarray] | None) -> Manifest:
    p = params.export
    timings: dict[str, float] = {}
    pre_spec, post_spec = task.PreprocessingSpec(inp), task.PostprocessingSpec(inp)
    liveri_dir = tmp / layout.LIVERI_DIR
    liveri_dir.mkdir(parents=True)

    t0 = time.perf_counter()
    module, signatures = build_inference_module(task, inp)
    tf.saved_model.save(module, str(tmp), signatures=signatures)
    serving_inputs = task.ServingInputs(test)
    write_warmup(tmp, name, {k: v[: p.warmup_requests] for k, v in serving_inputs.items()})
    timings["saved_model"] = time.perf_counter() - t0
    _log(f"saved_model written ({timings['saved_model']:.1f}s)")
    asset_files = task.AssetFiles(inp)
    for file_name, text in asset_files.items():
        atomic_write_text(liveri_dir / file_name, text)
    atomic_write_text(tmp / layout.VERSION_PARAMS_FILE, params.ToText())
    side_files = {_side_file_key(f): f"{layout.LIVERI_DIR}/{f}" for f in asset_files}
    kind = kinds.load(pre_spec, post_spec, {_side_file_key(f): text.encode()
                                            for f, text in asset_files.items()})

    calibration, calibrated_on = _calibration(task, kind, inp, signatures, p.calibration_examples,
                                              serving_inputs, logged)

    float_inputs = all(spec.dtype.is_floating for spec in
                       signatures["features"].structured_input_signature[1].values())
    artifacts: list[Artifact] = [_saved_model_entry(tmp, signatures)]
    int8_layers: dict[str, Any] = {}  # per-layer quantization error of each int8 artifact
    debugger = None  # the int8 conversion under the QuantizationDebugger, when it ran
    skipped: list[manifest.Skipped] = []  # opt-in formats that could not be made
    for fmt in formats:
        t0 = time.perf_counter()
        if fmt == qat.FORMAT:
            _log(f"{fmt}: {p.qat_steps} quantization-aware training steps")
            qat_task = restore_task(params, logdir, checkpoint)[0]  # a copy: QAT changes it
            content, notes = qat.convert(params, qat_task, inp, calibration, float_inputs)
            artifacts.append(tflite_entry(tmp, fmt, "features", content, notes))
            first, last = notes["qat"]["loss_first_tenth"], notes["qat"]["loss_last_tenth"]
            _log(f"{fmt}: mean loss of the first and last tenth of steps {first:.4f} -> "
                 f"{last:.4f}")
        elif formats_lib.get(fmt).runtime == formats_lib.LITERT:
            try:
                content, notes = tflite.convert(str(tmp), fmt, list(task.tflite_signatures),
                                                calibration, float_inputs=float_inputs)
            except Exception as e:  # noqa: BLE001 (the converter raises many types)
                if formats_lib.get(fmt).default:
                    raise
                # An opt-in format TFLite cannot make for this model is listed as skipped,
                # with why, rather than failing the whole export.
                skipped.append(manifest.Skipped(fmt, f"TFLite could not convert it: "
                                                     f"{str(e).splitlines()[-1][:300]}"))
                _log(f"{fmt} skipped: {skipped[-1].reason}")
                continue
            if fmt in tflite.CALIBRATED:
                notes["calibrated_on"] = calibrated_on
            if fmt == "tflite_int8":
                debugger, int8_layers[fmt] = _int8_debugger(tmp, task, calibration,
                                                            float_inputs)
            artifacts.append(tflite_entry(tmp, fmt, "+".join(task.tflite_signatures), content,
                                          notes))
        elif fmt == "onnx":
            artifacts.append(onnx_entry(tmp, p.onnx_opset, task.onnx_signature,
                                        task.onnx_greedy_signature))
        else:
            continue
        timings[fmt] = time.perf_counter() - t0
        _log(f"{fmt} written ({timings[fmt]:.1f}s, {artifacts[-1].bytes} bytes)")

    examples = kind.examples_from_serving(serving_inputs)
    reference = parity.trained_model(kind, signatures["features"])
    reference_answers, reference_outputs = parity.run_all(reference, examples)
    metric = task.artifact_metric or task.main_metric
    report: dict[str, Any] = {"examples": len(reference_answers), "split": "test",
                              "reference": "trained model (checkpoint, eager TensorFlow)",
                              "reference_metrics": task.AnswerMetrics(reference_answers, test),
                              "artifacts": {}}
    def measured(entry: Artifact) -> Artifact:
        model, inputs = open_model(tmp, entry, decoding=post_spec.get("decoding"))
        runner = Runner(entry.format, kind, model, inputs, entry.signature == "serving_default")
        answers, outputs = parity.run_all(runner, examples)
        entry.metrics = parity.compare(task, kind, answers, outputs, reference_answers,
                                       reference_outputs, test)
        return entry

    for entry in artifacts:
        measured(entry)
        report["artifacts"][entry.format] = entry.metrics
        _log(f"parity {entry.format}: {metric} {entry.metrics[metric]:.4f}, agreement "
             f"{entry.metrics['agreement']:.4f}")
    if debugger is not None:
        _selective_int8(params, task, tmp, artifacts, debugger, int8_layers["tflite_int8"],
                        measured)
        int8 = _entry(artifacts, "tflite_int8")
        report["artifacts"]["tflite_int8"] = int8.metrics
        if "kept_float" in int8.notes:
            int8_layers["tflite_int8"]["kept_float"] = int8.notes["kept_float"]
    if qat.FORMAT in report["artifacts"] and "tflite_int8" in report["artifacts"]:
        report["int8_quantization"] = {
            "metric": metric, "qat_steps": p.qat_steps,
            "post_training": report["artifacts"]["tflite_int8"][metric],
            "quantization_aware": report["artifacts"][qat.FORMAT][metric]}
    if int8_layers:
        report["int8_layers"] = int8_layers
    atomic_write_json(tmp / layout.PARITY_FILE, report)

    return Manifest(
        model=name,
        version=0,  # set when published
        experiment=params.experiment,
        params_hash=params.Hash(),
        checkpoint=checkpoint,
        checkpoint_step=step,
        commit=source_commit(),
        created=now(),
        main_metric=metric,
        higher_is_better=task.higher_is_better,
        input_kind=task.input_kind,
        preprocessing=pre_spec,
        postprocessing=post_spec,
        artifacts=artifacts,
        files=[],  # listed when published
        export_seconds=timings,
        budgets=dict(params.release.items()),
        gate={"verdict": "pending"},
        origin={"kind": "experiment", "logdir": str(Path(logdir).resolve())},
        skipped=skipped,
        **side_files,
    )


def _int8_debugger(tmp: Path, task: Any, calibration: Any, float_inputs: bool
                   ) -> tuple[quant_debug.Int8Debugger | None, dict[str, Any]]:
    """The int8 conversion under the QuantizationDebugger and its per-layer error, or None and
    why there is none: the debugger takes one signature, and its failure must not fail the
    export."""
    if len(task.tflite_signatures) > 1:
        return None, {"skipped": "the debugger takes one signature; this model steps through "
                                 f"{len(task.tflite_signatures)}"}
    t0 = time.perf_counter()
    try:
        debugger = quant_debug.Int8Debugger(str(tmp), "features", calibration, float_inputs)
        found = debugger.layers()
    except Exception as e:  # noqa: BLE001 (the converter and debugger raise many types)
        _log(f"tflite_int8: per-layer error not measured: {str(e).splitlines()[0][:200]}")
        return None, {"skipped": f"QuantizationDebugger failed: {str(e).splitlines()[0][:300]}"}
    worst = found["layers"][0] if found["layers"] else None
    _log(f"tflite_int8: per-layer error of {len(found['layers'])} layers measured "
         f"({time.perf_counter() - t0:.1f}s)" + (
             f"; worst {worst['tensor']} ({worst['op']}), RMSE / scale "
             f"{worst['rmse_over_scale']}" if worst else ""))
    return debugger, found


def _entry(artifacts: list[Artifact], fmt: str) -> Artifact:
    return next(a for a in artifacts if a.format == fmt)


def _selective_int8(params: Params, task: Any, tmp: Path, artifacts: list[Artifact],
                    debugger: quant_debug.Int8Debugger, layers: dict[str, Any],
                    measured: Any) -> None:
    """Replace the int8 artifact by one with its worst layers in float when it misses
    `release.max_int8_metric_drop` against tflite_float (`selective_int8`)."""
    formats_made = {a.format for a in artifacts}
    if not {"tflite_float", "tflite_int8"} <= formats_made:
        return
    metric = task.artifact_metric or task.main_metric
    float_metric = _entry(artifacts, "tflite_float").metrics[metric]
    int8 = _entry(artifacts, "tflite_int8")
    int8_content = (tmp / int8.path).read_bytes()
    budget = params.release.max_int8_metric_drop
    first_drop = worse_by(int8.metrics[metric], float_metric, task.higher_is_better)
    if first_drop <= budget or params.export.int8_max_float_layers <= 0:
        return
    _log(f"tflite_int8: {metric} drop {first_drop:.4f} over budget {budget}; keeping its worst "
         "layers in float")

    metrics_of: dict[bytes, dict[str, Any]] = {}

    def drop_of(model: bytes) -> float:
        trial = measured(tflite_entry(tmp, "tflite_int8", int8.signature, model, int8.notes))
        metrics_of[model] = trial.metrics
        _log(f"tflite_int8, try {len(metrics_of)}: {metric} {trial.metrics[metric]:.4f}")
        return worse_by(trial.metrics[metric], float_metric, task.higher_is_better)

    model, note = selective_int8.keep_worst_float(debugger, layers["layers"], drop_of, budget,
                                                  params.export.int8_max_float_layers,
                                                  first_drop)
    # Written again: a later try may have overwritten the file (full int8's, when none won).
    chosen = model or int8_content
    entry = tflite_entry(tmp, "tflite_int8", int8.signature, chosen,
                         {**int8.notes, "kept_float": note})
    entry.metrics = metrics_of[model] if model else int8.metrics
    artifacts[artifacts.index(int8)] = entry
    _log(f"tflite_int8: {note['why']}")


def _calibration(task: Any, kind: Any, inp: Any, signatures: dict[str, Any], count: int,
                 serving_inputs: dict[str, np.ndarray], logged: dict[str, np.ndarray] | None
                 ) -> tuple[Any, str]:
    """int8's calibration examples (a generator, or a step model's calibration) and where they
    came from: `count` train examples, or the first `count` `logged` request inputs."""
    if logged is not None:
        served = {k: v[:count] for k, v in logged.items()}
        if set(served) != set(serving_inputs):
            raise UsageError(f"--calibration_requests: the requests' inputs are {sorted(served)}; "
                             f"the model takes {sorted(serving_inputs)}")
        source = f"{len(next(iter(served.values())))} logged requests"
    else:
        served = task.ServingInputs({k: v[:count] for k, v in inp.Examples("train").items()})
        source = f"{len(next(iter(served.values())))} train examples"
    # Encoded as one batch, rows padded alike, then fed one example at a time.
    calib = kind.encode(kind.examples_from_serving(served)).features
    if len(task.tflite_signatures) > 1:  # a step-decoded model calibrates every signature
        return task.StepCalibration(inp, signatures, calib), source

    def calibration() -> Iterator[dict[str, np.ndarray]]:
        for i in range(len(next(iter(calib.values())))):
            yield {k: v[i:i + 1] for k, v in calib.items()}

    return calibration, source


def _side_file_key(file_name: str) -> str:
    """The manifest key of a side file the task ships (labels or vocab)."""
    return "labels_file" if file_name.startswith("labels") else "vocab_file"


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _checked_file(tmp: Path, rel_path: str) -> tuple[str, int]:
    path = tmp / rel_path
    return manifest.sha256_file(path), path.stat().st_size


def tflite_entry(tmp: Path, fmt: str, signature: str, content: bytes,
                 notes: dict[str, Any]) -> Artifact:
    """Write the flatbuffer to its place; its manifest entry (specs as LiteRT reads them)."""
    rel_path = formats_lib.get(fmt).file
    (tmp / rel_path).write_bytes(content)
    inputs, outputs = tflite.tensor_specs(content)
    return Artifact(fmt, rel_path, signature, [Tensor(**t) for t in inputs],
                    [Tensor(**t) for t in outputs], *_checked_file(tmp, rel_path), {}, notes)


def saved_model_entry(tmp: Path, signature: str, signature_keys: list[str],
                      inputs: list[Tensor], outputs: list[Tensor]) -> Artifact:
    """The SavedModel's entry: its serving `signature` and that signature's specs."""
    rel_path = formats_lib.get("saved_model").file
    return Artifact("saved_model", rel_path, signature, inputs, outputs,
                    *_checked_file(tmp, rel_path), {},
                    {"signatures": sorted(signature_keys), "select_tf_ops": False})


def _saved_model_entry(tmp: Path, signatures: dict[str, Any]) -> Artifact:
    fn = signatures["serving_default"]
    inputs = [Tensor(s.name, s.dtype.name, s.shape.as_list())
              for s in fn.structured_input_signature[1].values()]
    outputs = [Tensor(k, s.dtype.name, s.shape.as_list())
               for k, s in sorted(fn.structured_outputs.items())]
    return saved_model_entry(tmp, "serving_default", list(signatures), inputs, outputs)


def onnx_entry(tmp: Path, opset: int, signature: str, greedy_signature: str = "") -> Artifact:
    """Convert `signature` of the SavedModel in `tmp` with tf2onnx (a decoder's with its
    `greedy_signature` behind the `greedy` input); RuntimeError if it fails."""
    rel_path = formats_lib.get("onnx").file
    path = tmp / rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    if greedy_signature:
        onnx_convert.convert_decoder(tmp, signature, greedy_signature, opset, path)
    else:
        onnx_convert.convert(tmp, signature, opset, path)
    import onnx

    model = onnx.load(str(path))
    onnx.checker.check_model(model)

    def spec(v: Any) -> Tensor:
        dims = [d.dim_value if d.dim_value else None for d in v.type.tensor_type.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type)
        return Tensor(v.name, np.dtype(dtype).name, dims)

    notes = {"greedy_input": onnx_convert.GREEDY_INPUT} if greedy_signature else {}
    return Artifact("onnx", rel_path, signature, [spec(v) for v in model.graph.input],
                    [spec(v) for v in model.graph.output], *_checked_file(tmp, rel_path), {},
                    {"opset": opset, "select_tf_ops": False, **notes})


def _publish(tmp: Path, model_dir: Path, version: Manifest) -> Path:
    """List and checksum every file, write the manifest, then rename the folder to the next free
    version number."""
    version.files = manifest.file_entries(tmp)
    while True:
        number = (layout.latest_version(model_dir) or 0) + 1
        version.version = number
        manifest.write(tmp, version)
        problems = manifest.verify(tmp)
        if problems:
            raise RuntimeError(f"export verification failed: {problems}")
        target = model_dir / str(number)
        try:
            os.rename(tmp, target)
        except OSError:
            if target.exists():
                continue  # another export took this number; take the next
            raise
        _log(f"version {number} ready at {target}")
        return target
