"""A model trained elsewhere (a SavedModel or a `.keras` file) as a new version in the repository.

`liveri export --saved_model DIR` / `--keras FILE.keras` exist because many models reach
production without a Liveri experiment behind them: TF Serving's own examples, TF1 graphs saved
by SavedModelBuilder, Keras models from a notebook. There is no task here, so no preprocessing,
no labels and no task metric: the version speaks tensors, the SavedModel's signature is the
reference, and every other artifact is proven equal to it on examples (`--examples FILE.npz`,
one array per signature input, or generated ones for numeric inputs).

The version has the layout `liveri export` writes for a trained experiment and is written the
same way (under `REPO/MODEL/.tmp-PID-...`, then renamed to the next integer): the temporary
folders, the publish step, the TFLite and ONNX conversions and their manifest entries, the
warmup file and the runtimes are those of `liveri.export.exporter`, `.tflite`, `.warmup` and
`liveri.runtimes`. A format that does not convert (TFLite builtins have no string ops, ...) is
listed under `skipped` in the manifest with the converter's reason, and the export goes on.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import re
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from liveri.export import tflite
from liveri.export.exporter import (
    _log,
    _publish,
    now,
    onnx_entry,
    saved_model_entry,
    source_commit,
    staging,
    tflite_entry,
)
from liveri.export.parity import CHUNK
from liveri.export.warmup import write_warmup
from liveri.train.export_params import ExportParams

from liveri import layout
from liveri.artifact import formats as formats_lib
from liveri.artifact.manifest import Artifact, Manifest, Skipped, Tensor
from liveri.artifact.runner import open_model
from liveri.errors import UsageError
from liveri.fileio import atomic_write_json
from liveri.lazy import tf
from liveri.request_records import request_inputs

GENERATED_EXAMPLES = 8  # examples made up for numeric inputs when --examples is not given
RTOL, ATOL = 1e-3, 1e-5  # an element of a non-class output agrees within ATOL + RTOL * |ref|
AGREEMENT_DOC = (
    "per output: class scores (float, [N, C] with C >= 2): fraction of examples whose argmax "
    f"equals the reference's; other outputs: fraction of elements with |a - r| <= {ATOL} + "
    f"{RTOL} * |r|. An artifact's agreement is its lowest over its outputs. max_rel_error: "
    "max |a - r| / max(|r|, 1e-6).")
_SAVED_MODEL_FILES = ("saved_model.pb", "fingerprint.pb")
_SAVED_MODEL_DIRS = ("variables", "assets", "assets.extra")
# Lines of a converter's message that say why, in the order they are looked for.
_REASON_MARKERS = ("Some ops are not supported", "TF Select ops:", "Unsupported ops",
                   "No Op registered", "is neither a custom op nor a flex op")


@dataclass
class Spec:
    """One input or output of the signature: name (its key), dtype, shape (None: unknown rank)."""

    name: str
    dtype: Any  # tf.DType
    shape: list[int | None] | None

    def describe(self) -> str:
        return f"{self.dtype.name} {'of any shape' if self.shape is None else self.shape}"

    def tensor(self) -> Tensor:
        return Tensor(self.name, self.dtype.name, [] if self.shape is None else self.shape)


def export_foreign(*, saved_model: str | Path | None, keras: str | Path | None,
                   model_repo: str | Path, name: str, formats: list[str],
                   examples: str | Path | None, budgets: dict[str, Any],
                   signature: str = "serving_default") -> Path:
    """Export the SavedModel `saved_model` (copied as is) or the Keras file `keras` (saved as a
    SavedModel) as the next version of `model_repo/name`, with every format of `formats` that
    converts and the parity of each against `signature` on `examples`; returns the version dir.
    """
    if (saved_model is None) == (keras is None):
        raise UsageError("export: expected exactly one of --saved_model DIR or --keras FILE")
    wanted, skipped = _check_formats(formats)
    if examples is not None and not Path(examples).is_file():
        raise UsageError(f"--examples {examples}: no such file; expected a .npz with one array "
                         "per input of the signature (np.savez(FILE, name=array, ...))")
    if saved_model is not None:
        source, origin = Path(saved_model), {"kind": "saved_model"}
        _check_saved_model_dir(source)
        keras_model = None
    else:
        source, origin = Path(str(keras)), {"kind": "keras"}
        keras_model = _load_keras(source)
    origin.update(path=str(source.resolve()), signature=signature,
                  examples=str(Path(examples).resolve()) if examples else "generated")

    model_dir = Path(model_repo) / name
    created = not model_dir.exists()
    try:
        with staging(model_repo, name) as (model_dir, tmp):
            version = _write_version(tmp, name, source, keras_model, origin, signature, wanted,
                                     skipped, examples, budgets)
            return _publish(tmp, model_dir, version)
    except BaseException:
        if created:  # leave no empty model folder behind a refused export
            with contextlib.suppress(OSError):
                model_dir.rmdir()
        raise


def _check_formats(formats: list[str]) -> tuple[list[str], list[Skipped]]:
    """(formats to convert, in order, saved_model left out: it is always written; formats
    that cannot be made for a model trained elsewhere, with the reason)."""
    wanted: list[str] = []
    skipped: list[Skipped] = []
    for fmt in formats:
        try:
            formats_lib.get(fmt)
        except formats_lib.UnknownFormatError as e:
            raise UsageError(f"--formats: {e}") from None
        if fmt == "saved_model" or fmt in wanted:
            continue
        if fmt == "tflite_int8_qat":
            skipped.append(Skipped(fmt, "needs quantization-aware training of a Liveri task; a "
                                   "model trained elsewhere has none (use tflite_int8)"))
        elif formats_lib.get(fmt).runtime in (formats_lib.LITERT, formats_lib.ONNXRUNTIME):
            wanted.append(fmt)
    return wanted, skipped


# --- the source -------------------------------------------------------------------------------


def _check_saved_model_dir(path: Path) -> None:
    if not path.is_dir():
        raise UsageError(f"--saved_model {path}: not a directory; expected a SavedModel folder "
                         "(saved_model.pb, variables/)")
    if (path / "saved_model.pb").is_file():
        return
    hint = ""
    if (path / "saved_model.pbtxt").is_file():
        hint = " (it has saved_model.pbtxt; save the binary form)"
    elif layout.versions(path):
        first = next(iter(layout.versions(path).values()))
        hint = f" (it holds numbered versions; pass one of them, e.g. {first})"
    raise UsageError(f"--saved_model {path}: no saved_model.pb in it{hint}; expected the folder "
                     "tf.saved_model.save or SavedModelBuilder wrote (saved_model.pb, variables/)")


def _load_keras(path: Path) -> Any:
    """The model in `path`, loaded by Keras 3 or else by tf_keras (Keras 2)."""
    if not path.is_file():
        raise UsageError(f"--keras {path}: no such file; expected a .keras file written by "
                         "model.save")
    reasons = []
    for module_name, loader in (("keras", "saving.load_model"), ("tf_keras", "models.load_model")):
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            reasons.append(f"{module_name}: not installed ({e})")
            continue
        load = module
        for attr in loader.split("."):
            load = getattr(load, attr)
        try:
            return load(str(path), compile=False)
        except Exception as e:  # noqa: BLE001 (loaders raise many types for a bad file)
            reasons.append(f"{module_name}: {type(e).__name__}: {_first_line(e)}")
    raise UsageError(f"--keras {path}: not a Keras model file that loads; expected a .keras file "
                     f"written by model.save ({'; '.join(reasons)})")


def _write_saved_model(tmp: Path, source: Path, keras_model: Any) -> None:
    if keras_model is None:
        tmp.mkdir(parents=True)
        for file_name in _SAVED_MODEL_FILES:
            if (source / file_name).is_file():
                shutil.copy2(source / file_name, tmp / file_name)
        for dir_name in _SAVED_MODEL_DIRS:
            if (source / dir_name).is_dir():
                shutil.copytree(source / dir_name, tmp / dir_name)
        return
    try:
        if "verbose" in inspect.signature(keras_model.export).parameters:
            keras_model.export(str(tmp), verbose=False)  # Keras 3: serve and serving_default
        else:
            keras_model.export(str(tmp))  # tf_keras
    except Exception as e:  # noqa: BLE001 (Keras raises many types for a model it cannot trace)
        raise UsageError(f"--keras {source}: the model loads but does not export as a SavedModel "
                         f"(model.export): {type(e).__name__}: {_first_line(e)}") from None


def _signature(tmp: Path, signature: str, flag: str) -> tuple[Any, Any, list[Spec], list[Spec]]:
    """(the loaded SavedModel, its `signature` function, input specs, output specs). TF1
    SavedModels load through the TF2 loader too (their signatures come back pruned)."""
    try:
        loaded = tf.saved_model.load(str(tmp), tags=["serve"])
    except Exception as e:  # noqa: BLE001 (a bad SavedModel raises many types)
        raise UsageError(f"{flag}: the SavedModel does not load with tag 'serve': "
                         f"{type(e).__name__}: {_first_line(e)}") from None
    if signature not in loaded.signatures:
        have = ", ".join(sorted(loaded.signatures)) or "none"
        raise UsageError(f"--signature {signature}: {flag} has no signature {signature!r}; "
                         f"it has: {have}")
    fn = loaded.signatures[signature]
    # By name: a SignatureDef's inputs are a map, and the loader's order varies between runs.
    inputs = [_spec(key, spec) for key, spec in sorted(fn.structured_input_signature[1].items())]
    outputs = [_spec(key, spec) for key, spec in sorted(fn.structured_outputs.items())]
    scalars = [s.name for s in inputs if s.shape == []]
    if scalars:
        raise UsageError(f"--signature {signature}: input {scalars[0]!r} is a scalar; expected "
                         "inputs with a batch dimension (rank >= 1)")
    return loaded, fn, inputs, outputs


def _spec(name: str, value: Any) -> Spec:
    shape = None if value.shape.rank is None else value.shape.as_list()
    return Spec(name, value.dtype, shape)


# --- examples ---------------------------------------------------------------------------------


def _batch(inputs: list[Spec]) -> int | None:
    """The fixed batch size of the signature, or None where the batch dimension is free."""
    fixed = {s.shape[0] for s in inputs if s.shape and s.shape[0] is not None}
    return min(fixed) if fixed else None


def read_examples(path: str | Path, inputs: list[Spec], signature: str) -> dict[str, np.ndarray]:
    """The arrays of the .npz at `path` (or the predict requests of a request log, a
    PredictionLog TFRecord file), checked against (and cast to) the signature's inputs.

    A one-input signature also takes one unnamed array (np.savez(f, x) stores it as arr_0).
    """
    expected = ", ".join(f"{s.name} ({s.describe()})" for s in inputs)
    with open(path, "rb") as f:
        is_npy = f.read(6) == b"\x93NUMPY"
    arrays = _read_npz(path) if is_npy or zipfile.is_zipfile(path) else _read_log(path)
    if len(inputs) == 1 and list(arrays) == ["arr_0"]:
        arrays = {inputs[0].name: arrays["arr_0"]}
    names = {s.name for s in inputs}
    missing = [s.name for s in inputs if s.name not in arrays]
    extra = sorted(set(arrays) - names)
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unexpected {', '.join(extra)}"] if extra else [])
        raise UsageError(f"--examples {path}: signature {signature!r} takes inputs {expected}; "
                         f"the file has {', '.join(sorted(arrays)) or 'no arrays'} "
                         f"({'; '.join(parts)})")
    out = {s.name: _fit(path, s, arrays[s.name]) for s in inputs}
    sizes = {k: len(v) for k, v in out.items()}
    if len(set(sizes.values())) > 1:
        raise UsageError(f"--examples {path}: expected the same number of examples (first "
                         f"dimension) in every array; got {sizes}")
    n = next(iter(sizes.values()))
    batch = _batch(inputs)
    if n == 0 or (batch and n % batch):
        need = f"a multiple of the signature's fixed batch {batch}" if batch else "at least 1"
        raise UsageError(f"--examples {path}: expected {need} examples; got {n}")
    return out


def _read_npz(path: str | Path) -> dict[str, np.ndarray]:
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.ndarray):  # a .npy: one unnamed array
            arrays = {"arr_0": data}
        else:
            with data:
                arrays = {k: data[k] for k in data.files}
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise UsageError(f"--examples {path}: holds an object array, which only loads through "
                             "pickle; expected strings as a str or bytes array "
                             "(np.array(list_of_str))") from None
        raise UsageError(f"--examples {path}: not a .npz numpy can read ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise UsageError(f"--examples {path}: not a .npz numpy can read ({e})") from None
    return arrays


def _read_log(path: str | Path) -> dict[str, np.ndarray]:
    try:
        return request_inputs([path])
    except Exception:  # noqa: BLE001 (protobuf and TensorFlow raise many types on garbage)
        raise UsageError(f"--examples {path}: neither a .npz (np.savez(FILE, name=array, ...)) "
                         "nor a request log (PredictionLog TFRecords)") from None


def _fit(path: str | Path, spec: Spec, array: np.ndarray) -> np.ndarray:
    """`array` as input `spec` takes it; UsageError naming the input, what it expects and what
    was given where the dtype or the shape does not fit. Integers are taken for float inputs
    (cast), floats are not taken for integer inputs (they would be truncated)."""
    given = f"got {array.dtype} array of shape {list(array.shape)}"

    def refuse(why: str) -> UsageError:
        return UsageError(f"--examples {path}: input {spec.name!r} expects {spec.describe()}; "
                          f"{given} ({why})")

    dtype, kind = spec.dtype, array.dtype.kind
    if dtype == tf.string:
        if kind not in "SU":
            raise refuse("expected a str or bytes array")
        values = array.astype(object)
        if kind == "U":
            values = np.vectorize(lambda s: s.encode("utf-8"), otypes=[object])(array)
        array = values
    elif dtype.is_floating:
        if kind not in "fiu":
            raise refuse("expected numbers")
        array = array.astype(dtype.as_numpy_dtype)
    elif dtype.is_integer:
        if kind not in "iu":
            raise refuse("expected integers")
        info = np.iinfo(dtype.as_numpy_dtype)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise refuse(f"values outside {dtype.name}'s range")
        array = array.astype(dtype.as_numpy_dtype)
    elif dtype == tf.bool:
        if kind != "b":
            raise refuse("expected a bool array")
    else:
        raise refuse(f"inputs of dtype {dtype.name} are not supported")
    if spec.shape is not None:
        fits = array.ndim == len(spec.shape) and all(
            want is None or want == have for want, have in zip(spec.shape[1:], array.shape[1:]))
        if not fits:
            raise refuse("the first dimension is the batch; None is any size")
        if spec.shape[0] is not None and array.shape[0] % spec.shape[0]:
            raise refuse(f"the batch is fixed at {spec.shape[0]}")
    elif array.ndim == 0:
        raise refuse("expected a batch dimension")
    return array


def generated_examples(inputs: list[Spec], signature: str) -> dict[str, np.ndarray]:
    """Examples for numeric inputs: float random normal, integers and bools zero; every None
    dimension but the batch is 1. Strings cannot be made up: UsageError asking for --examples."""
    batch = _batch(inputs)
    n = batch * -(-GENERATED_EXAMPLES // batch) if batch else GENERATED_EXAMPLES
    rng = np.random.default_rng(0)
    out = {}
    for s in inputs:
        if s.dtype == tf.string:
            raise UsageError(f"--examples: signature {signature!r} takes string input "
                             f"{s.name!r}, and text cannot be made up; expected --examples "
                             "FILE.npz with an array per input (np.savez(FILE, "
                             f"{', '.join(f'{i.name}=...' for i in inputs)}))")
        if s.shape is None:
            raise UsageError(f"--examples: input {s.name!r} of signature {signature!r} has no "
                             "known rank, so examples cannot be made up; expected --examples "
                             "FILE.npz")
        shape = [n] + [d or 1 for d in s.shape[1:]]
        if s.dtype.is_floating:
            out[s.name] = rng.standard_normal(shape).astype(s.dtype.as_numpy_dtype)
        else:
            out[s.name] = np.zeros(shape, s.dtype.as_numpy_dtype)
    return out


# --- the version ------------------------------------------------------------------------------


def _write_version(tmp: Path, name: str, source: Path, keras_model: Any, origin: dict[str, Any],
                   signature: str, wanted: list[str], skipped: list[Skipped],
                   examples_path: str | Path | None, budgets: dict[str, Any]) -> Manifest:
    defaults = ExportParams()
    flag = f"--{origin['kind']} {source}"
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    _write_saved_model(tmp, source, keras_model)
    loaded, fn, input_specs, output_specs = _signature(tmp, signature, flag)
    if examples_path is not None:
        examples = read_examples(examples_path, input_specs, signature)
    else:
        examples = generated_examples(input_specs, signature)
    n = len(next(iter(examples.values())))
    step = _batch(input_specs) or 1
    warmup_kept = examples_path is None and (tmp / layout.WARMUP_FILE).is_file()
    if warmup_kept:
        _log(f"keeping the source's {layout.WARMUP_FILE} (no --examples given)")
    else:
        warm = {k: v[: defaults.warmup_requests * step] for k, v in examples.items()}
        write_warmup(tmp, name, warm, signature, step)
    (tmp / layout.LIVERI_DIR).mkdir(exist_ok=True)
    timings["saved_model"] = time.perf_counter() - t0
    _log(f"saved_model written from {origin['kind']} {source} ({timings['saved_model']:.1f}s; "
         f"signature {signature!r}: {', '.join(s.name for s in input_specs)} -> "
         f"{', '.join(s.name for s in output_specs)}; {n} examples)")

    def reference_run(x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in x.items()}).items()}

    try:
        reference = _chunked(reference_run, examples, CHUNK if step == 1 else step)
    except Exception as e:  # noqa: BLE001 (TensorFlow raises many types)
        raise UsageError(f"{flag}: signature {signature!r} fails on the examples "
                         f"({origin['examples']}): {type(e).__name__}: {_first_line(e)}") from None
    signature_keys = sorted(loaded.signatures)
    del loaded  # the reference is computed; the artifacts run in their own runtimes

    # Specs named by the signature's keys (what a Predict request uses).
    saved = saved_model_entry(tmp, signature, signature_keys,
                              [s.tensor() for s in input_specs], [s.tensor() for s in output_specs])
    converted = _convert(tmp, wanted, signature, examples, input_specs, step,
                         defaults.onnx_opset, skipped, timings)
    t0 = time.perf_counter()
    saved.metrics = _saved_model_metrics(keras_model, examples, reference, input_specs,
                                         output_specs, step)
    kept = [saved]
    for entry in converted:
        try:
            entry.metrics = _artifact_metrics(tmp, entry, examples, reference, input_specs,
                                              output_specs, step)
        except Exception as e:  # noqa: BLE001 (a runtime that cannot run what was converted)
            _remove(tmp / entry.path)
            skipped.append(Skipped(entry.format, f"converted, but {_runtime_name(entry)} cannot "
                                   f"run it: {_reason(e)}"))
            _log(f"{entry.format} skipped: {skipped[-1].reason}")
            continue
        kept.append(entry)
    for entry in kept:
        m = entry.metrics
        _log(f"parity {entry.format}: agreement {m['agreement']:.4f}, max abs error "
             f"{m['max_abs_error']}, max rel error {m['max_rel_error']}")
    timings["parity"] = time.perf_counter() - t0
    order = {fmt: i for i, fmt in enumerate(wanted)}
    skipped.sort(key=lambda s: order.get(s.format, len(order)))
    atomic_write_json(tmp / layout.PARITY_FILE, {
        "reference": f"SavedModel signature {signature!r} (TensorFlow)",
        "examples": n,
        "examples_from": origin["examples"],
        "agreement": AGREEMENT_DOC,
        "artifacts": {a.format: a.metrics for a in kept},
        "skipped": {s.format: s.reason for s in skipped},
    })
    return Manifest(
        model=name,
        version=0,  # set when published
        experiment=None,
        params_hash=None,
        checkpoint=None,
        checkpoint_step=None,
        commit=source_commit(),
        created=now(),
        main_metric="agreement",
        higher_is_better=True,
        input_kind="tensors",
        # The "tensors" kind (liveri.artifact.kinds.tensors) batches raw inputs by this.
        preprocessing={"kind": "tensors", "inputs": {
            i.name: {"dtype": np.dtype(i.dtype.as_numpy_dtype).name, "shape": i.shape}
            for i in input_specs}},
        postprocessing={"kind": "tensors"},
        artifacts=kept,
        files=[],  # listed when published
        export_seconds=timings,
        budgets=dict(budgets),
        gate={"verdict": "pending"},
        origin=origin,
        skipped=skipped,
    )


def _convert(tmp: Path, wanted: list[str], signature: str, examples: dict[str, np.ndarray],
             inputs: list[Spec], step: int, opset: int, skipped: list[Skipped],
             timings: dict[str, float]) -> list[Artifact]:
    """Each format of `wanted` converted from the SavedModel in `tmp` (full int8 calibrated on
    the examples); one that fails is appended to `skipped` with the converter's reason."""
    n = len(next(iter(examples.values())))

    def calibration() -> Iterator[dict[str, np.ndarray]]:
        for i in range(0, n, step):
            yield {k: v[i:i + step] for k, v in examples.items()}

    float_inputs = all(s.dtype.is_floating for s in inputs)
    artifacts = []
    for fmt in wanted:
        t0 = time.perf_counter()
        try:
            if formats_lib.get(fmt).runtime == formats_lib.LITERT:
                content, notes = tflite.convert(str(tmp), fmt, [signature], calibration,
                                                float_inputs=float_inputs)
                entry = tflite_entry(tmp, fmt, signature, content, notes)
            else:
                entry = onnx_entry(tmp, opset, signature)
        except Exception as e:  # noqa: BLE001 (converters raise many types)
            _remove(tmp / formats_lib.get(fmt).file)
            skipped.append(Skipped(fmt, _reason(e)))
            _log(f"{fmt} skipped: {skipped[-1].reason}")
            continue
        timings[fmt] = time.perf_counter() - t0
        artifacts.append(entry)
        _log(f"{fmt} written ({timings[fmt]:.1f}s, {entry.bytes} bytes)")
    return artifacts


# --- parity -----------------------------------------------------------------------------------


def _chunked(fn: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
             inputs: dict[str, np.ndarray], chunk: int) -> dict[str, np.ndarray]:
    n = len(next(iter(inputs.values())))
    parts = [fn({k: v[i:i + chunk] for k, v in inputs.items()}) for i in range(0, n, chunk)]
    return {k: np.concatenate([np.atleast_1d(np.asarray(p[k])) for p in parts])
            for k in parts[0]}


def match_names(ours: list[str], theirs: list[str]) -> tuple[dict[str, str], str]:
    """({our name: their name}, how): by name where equal, the rest paired in order."""
    if len(ours) != len(theirs):
        raise ValueError(f"it has {len(theirs)} tensors ({', '.join(theirs)}); the SavedModel's "
                         f"signature has {len(ours)} ({', '.join(ours)})")
    mapping = {n: n for n in ours if n in theirs}
    rest_ours = [n for n in ours if n not in mapping]
    rest_theirs = [n for n in theirs if n not in mapping.values()]
    mapping.update(zip(rest_ours, rest_theirs))
    how = "by name" if not rest_ours else (
        f"by name, {len(rest_ours)} by order" if len(rest_ours) < len(ours) else "by order")
    return mapping, how


def _artifact_metrics(tmp: Path, entry: Artifact, examples: dict[str, np.ndarray],
                      reference: dict[str, np.ndarray], inputs: list[Spec],
                      outputs: list[Spec], step: int) -> dict[str, Any]:
    """Run `entry` in its runtime on the examples; its parity against the reference."""
    model, input_dtypes = open_model(tmp, entry)
    in_names, out_names = list(input_dtypes), list(model.output_names)
    in_map, in_how = match_names([s.name for s in inputs], in_names)
    out_map, out_how = match_names([s.name for s in outputs], out_names)
    if (in_how, out_how) != ("by name", "by name"):
        # Serve, bundles and the benchmarks feed an artifact by the signature's names.
        raise ValueError(f"its tensors are not named as the signature's (inputs {in_names}, "
                         f"outputs {out_names}), so it could not stand in for it")

    def run(x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = model(**{in_map[k]: v for k, v in x.items()})
        return {ours: out[theirs] for ours, theirs in out_map.items()}

    return compare(reference, _chunked(run, examples, CHUNK if step == 1 else step))


def _saved_model_metrics(keras_model: Any, examples: dict[str, np.ndarray],
                         reference: dict[str, np.ndarray], inputs: list[Spec],
                         outputs: list[Spec], step: int) -> dict[str, Any]:
    """The SavedModel against its source: the Keras model itself where it has one input and one
    output (the SavedModel's signature is the reference of every other artifact)."""
    if keras_model is None or len(inputs) != 1 or len(outputs) != 1:
        return {**compare(reference, reference), "reference": True}

    def run(x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        (out,) = tf.nest.flatten(keras_model(next(iter(x.values())), training=False))
        return {outputs[0].name: np.asarray(out)}

    try:
        metrics = compare(reference, _chunked(run, examples, CHUNK if step == 1 else step))
    except Exception as e:  # noqa: BLE001 (a Keras model that cannot be called eagerly so)
        return {**compare(reference, reference), "reference": True,
                "keras_comparison_failed": f"{type(e).__name__}: {_first_line(e)}"}
    return {**metrics, "compared_with": "keras model (eager)"}


def compare(reference: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> dict[str, Any]:
    """Parity of `got` against `reference`, per output and overall (see AGREEMENT_DOC)."""
    per_output = {}
    for name, ref in reference.items():
        out = np.asarray(got[name])
        if out.shape != ref.shape:
            if out.size != ref.size:
                raise ValueError(f"output {name!r} has shape {list(out.shape)}; the SavedModel's "
                                 f"is {list(ref.shape)}")
            out = out.reshape(ref.shape)
        per_output[name] = _compare_one(ref, out)
    return {
        "agreement": min(m["agreement"] for m in per_output.values()),
        "max_abs_error": _worst(m["max_abs_error"] for m in per_output.values()),
        "max_rel_error": _worst(m["max_rel_error"] for m in per_output.values()),
        "examples": len(next(iter(reference.values()))),
        "outputs": per_output,
    }


def _worst(errors: Any) -> float | None:
    """The largest error; None (not comparable as numbers) wins."""
    errors = list(errors)
    return None if None in errors else max(errors)


def _compare_one(ref: np.ndarray, out: np.ndarray) -> dict[str, Any]:
    if ref.dtype.kind in "OSU" or out.dtype.kind in "OSU":
        equal = ref == out
        # Strings have no numeric error: None (JSON null) where any differs.
        return {"kind": "values", "agreement": float(np.mean(equal)) if equal.size else 1.0,
                "max_abs_error": 0.0 if np.all(equal) else None,
                "max_rel_error": 0.0 if np.all(equal) else None}
    r, a = ref.astype(np.float64), out.astype(np.float64)
    err = np.abs(a - r)
    rel = err / np.maximum(np.abs(r), 1e-6)
    metrics: dict[str, Any] = {
        "max_abs_error": float(err.max()) if err.size else 0.0,
        "max_rel_error": float(rel.max()) if rel.size else 0.0,
    }
    if ref.dtype.kind == "f" and ref.ndim == 2 and ref.shape[1] >= 2:
        metrics["kind"] = "class_scores"
        metrics["agreement"] = float(np.mean(np.argmax(a, 1) == np.argmax(r, 1)))
    else:
        close = np.isclose(a, r, rtol=RTOL, atol=ATOL)
        metrics["kind"] = "values"
        metrics["agreement"] = float(np.mean(close)) if close.size else 1.0
    return metrics


# --- small helpers ----------------------------------------------------------------------------


def _runtime_name(entry: Artifact) -> str:
    return {formats_lib.LITERT: "LiteRT", formats_lib.ONNXRUNTIME: "onnxruntime"}.get(
        formats_lib.get(entry.format).runtime, "its runtime")


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _first_line(e: BaseException) -> str:
    lines = [x.strip() for x in str(e).splitlines() if x.strip()]
    return lines[0][:300] if lines else type(e).__name__


def _reason(e: BaseException, limit: int = 600) -> str:
    """Why a converter failed, in a few lines: the lines that name unsupported ops where its
    message has them, else its first lines."""
    lines = [x.strip() for x in str(e).splitlines() if x.strip()]
    lines = [line for line in lines if not line.startswith("tf2onnx failed")] or lines
    picked = []
    for marker in _REASON_MARKERS:
        for line in lines:
            if marker in line and line not in picked:
                picked.append(re.sub(r"^.*?(error|note): loc\(.*?\)\)*:\s*", "", line))
        if len(picked) >= 2:
            break
    if not picked:  # a traceback's last exception line, else the first lines
        raised = [line for line in lines if re.match(r"^[\w.]+(Error|Exception)\b:", line)]
        picked = raised[-1:] or lines[:3]
    text = " | ".join(dict.fromkeys(x[:300] for x in picked))
    return f"{type(e).__name__}: {text}"[:limit]
