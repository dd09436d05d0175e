"""The one list of artifact formats: where each lives in a version, what runs it, what it is for.

Export writes these, the manifest names them, serve loads them, mobile bundles them and the
benchmarks time them; every stage reads this table instead of keeping its own list.
"""

from __future__ import annotations

from dataclasses import dataclass

TENSORFLOW = "tensorflow"
LITERT = "litert"
ONNXRUNTIME = "onnxruntime"


@dataclass(frozen=True)
class Format:
    """One artifact format of an exported version."""

    name: str  # as the manifest, `--formats` and `liveri bundle --format` spell it
    file: str  # its path inside the version folder
    runtime: str  # what runs it: TENSORFLOW, LITERT or ONNXRUNTIME
    default: bool  # written by `liveri export` unless `--formats` says otherwise
    servable: bool  # `liveri serve` can answer from it (model_platform)
    bundleable: bool  # `liveri bundle` can pack it for a device
    benchmarkable: bool  # `liveri bench` times it
    doc: str


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("saved_model", "saved_model.pb", TENSORFLOW, True, True, False, True,
           "TensorFlow SavedModel; raw-input signatures, preprocessing in the graph"),
    Format("tflite_float", "liveri/model_float.tflite", LITERT, True, True, True, True,
           "TFLite, float32 weights and activations"),
    Format("tflite_dynamic", "liveri/model_dynamic.tflite", LITERT, True, True, True, True,
           "TFLite, int8 weights, float activations (dynamic-range quantization)"),
    Format("tflite_int8", "liveri/model_int8.tflite", LITERT, True, True, True, True,
           "TFLite, full int8 calibrated on training examples"),
    Format("tflite_fp16", "liveri/model_fp16.tflite", LITERT, True, True, True, True,
           "TFLite, float16 weights"),
    Format("onnx", "liveri/model.onnx", ONNXRUNTIME, True, True, False, True,
           "ONNX (tf2onnx), run by onnxruntime"),
    Format("tflite_int16x8", "liveri/model_int16x8.tflite", LITERT, False, True, True, True,
           "TFLite, int8 weights and int16 activations calibrated on training examples"),
    Format("tflite_int8_qat", "liveri/model_int8_qat.tflite", LITERT, False, True, True, True,
           "TFLite, full int8 after quantization-aware fine-tuning (export.qat_steps > 0)"),
)}

DEFAULT = tuple(f.name for f in FORMATS.values() if f.default)
TFLITE = tuple(f.name for f in FORMATS.values() if f.runtime == LITERT)
BUNDLEABLE = tuple(f.name for f in FORMATS.values() if f.bundleable)
# `model_platform` names in a ModelServerConfig that mean a format (TF Serving says "tflite").
PLATFORM_ALIASES = {"tflite": "tflite_float"}


class UnknownFormatError(ValueError):
    """A format name that is not in `FORMATS`; the message lists the known ones."""


def get(name: str) -> Format:
    """The format called `name`; an unknown name is refused with the list of known ones."""
    if name not in FORMATS:
        raise UnknownFormatError(f"unknown format {name!r}; expected one of "
                                 f"{', '.join(FORMATS)}")
    return FORMATS[name]


def parse(text: str) -> list[str]:
    """A comma-separated list of format names, each checked (`--formats`)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in FORMATS]
    if unknown:
        raise UnknownFormatError(f"unknown format {', '.join(unknown)}; expected a "
                                 f"comma-separated subset of {','.join(FORMATS)}")
    return names
