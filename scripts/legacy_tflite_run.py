"""Answer with a bundle on the legacy `tflite_runtime` interpreter, reading only `bundle.json`.

Runs in the legacy venv (tflite-runtime 2.14, numpy<2) where Liveri is not installed, so it is
written from the bundle's spec alone, as a device port would be: verify checksums, scale pixels,
quantize int8 input, run, dequantize, argmax. Prints {"class_ids": [...], "runtime": ...}.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile

import numpy as np
import tflite_runtime
from tflite_runtime.interpreter import Interpreter


def load(bundle_path: str) -> tuple[dict, bytes]:
    with zipfile.ZipFile(bundle_path) as zf:
        spec = json.loads(zf.read("bundle.json"))
        files = {entry["path"]: zf.read(entry["path"]) for entry in spec["files"]}
    for entry in spec["files"]:
        if hashlib.sha256(files[entry["path"]]).hexdigest() != entry["sha256"]:
            sys.exit(f"{entry['path']}: checksum mismatch in {bundle_path}")
    return spec, files[spec["model_file"]]


def features(spec: dict, pixels: np.ndarray) -> np.ndarray:
    pre = spec["preprocessing"]
    if pre["kind"] != "image":
        sys.exit(f"this script runs image bundles; this one takes {pre['kind']} input")
    shape = tuple(pre["raw_input"]["shape"])
    x = pixels[None] if pixels.shape == shape else pixels
    x = x.astype(np.float32) * np.float32(pre["scale"])
    return x[..., None] if pre.get("add_channel_axis") else x


def quantize(x: np.ndarray, tensor: dict) -> np.ndarray:
    scale, zero = tensor["quantization"]["scale"], tensor["quantization"]["zero_point"]
    if tensor["dtype"] in ("int8", "uint8") and scale:
        info = np.iinfo(tensor["dtype"])
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(tensor["dtype"])
    return x.astype(tensor["dtype"])


def dequantize(y: np.ndarray, tensor: dict) -> np.ndarray:
    scale, zero = tensor["quantization"]["scale"], tensor["quantization"]["zero_point"]
    if tensor["dtype"] in ("int8", "uint8") and scale:
        return (y.astype(np.float32) - zero) * np.float32(scale)
    return y


def main(bundle_path: str, pixels_path: str) -> None:
    spec, model = load(bundle_path)
    interpreter = Interpreter(model_content=model, num_threads=1)
    runner = interpreter.get_signature_runner(spec["signature"])
    (tensor_in,) = spec["inputs"]
    outputs = {t["name"]: t for t in spec["outputs"]}
    scores_name = spec["postprocessing"]["scores_output"]
    x = features(spec, np.load(pixels_path, allow_pickle=False))
    # One example at a time, as a device answers, so batch resizing plays no part.
    class_ids = []
    for example in x:
        raw = runner(**{tensor_in["name"]: quantize(example[None], tensor_in)})
        scores = dequantize(raw[scores_name], outputs[scores_name])
        class_ids.append(int(np.argmax(scores[0])))
    print(json.dumps({"class_ids": class_ids, "runtime": f"tflite_runtime {tflite_runtime.__version__}",
                      "numpy": np.__version__}))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: legacy_tflite_run.py BUNDLE.zip PIXELS.npy")
    main(sys.argv[1], sys.argv[2])
