"""One loader interface, one loader per backend: (name, version, path) -> Servable.

TF Serving's SourceAdapter picks a loader by platform; so does `loader_for`: a SavedModel in a
TensorFlow session (`loader.py`), the version's TFLite file on LiteRT when
`--prefer_tflite_model` finds one (`tflite.py`), a Liveri artifact named by the model's
`model_platform` (`artifacts.py`), or, with `--liveri_backend=auto`, the SavedModel with its
serving_default answered by the fastest artifact within parity (`backend_choice.py`). The
manager calls the chosen loader; what comes back answers requests the same way whichever
backend made it.
"""

from __future__ import annotations

from collections.abc import Callable

from liveri.serve.loader import Servable, load_saved_model
from liveri.serve.source import ModelSpec

from liveri.artifact.formats import TENSORFLOW  # also TF Serving's platform name

AUTO = "auto"  # --liveri_backend: each version's fastest artifact within parity
BACKENDS = (TENSORFLOW, AUTO)
# name, version, version folder -> a loaded servable
Loader = Callable[[str, int, str], Servable]


def saved_model_loader() -> Loader:
    return load_saved_model


def tflite_loader(tflite_path: str) -> Loader:
    def load(name: str, version: int, path: str) -> Servable:
        from liveri.serve.tflite import load_tflite

        return load_tflite(name, version, path, tflite_path)

    return load


def artifact_loader(platform: str) -> Loader:
    def load(name: str, version: int, path: str) -> Servable:
        from liveri.serve.artifacts import load_artifact

        return load_artifact(name, version, path, platform)

    return load


def fastest_loader(name: str, version: int, path: str) -> Servable:
    from liveri.serve.backend_choice import choose_backend

    servable = load_saved_model(name, version, path)
    try:
        servable.backend_choice = choose_backend(servable)
    except BaseException:
        servable.unload()
        raise
    return servable


def loader_for(spec: ModelSpec, path: str, prefer_tflite: bool, backend: str = TENSORFLOW
               ) -> Loader:
    """The backend that serves version folder `path` of `spec` (`backend`: --liveri_backend)."""
    if spec.platform not in ("", TENSORFLOW):
        return artifact_loader(spec.platform)
    if prefer_tflite:
        from liveri.serve.tflite import find_tflite_model

        tflite_path = find_tflite_model(path)
        if tflite_path:
            return tflite_loader(tflite_path)
    return fastest_loader if backend == AUTO else saved_model_loader()
