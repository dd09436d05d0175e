"""Input/output kinds: how raw examples become a model's features and its outputs an answer.

One module per kind, numpy only (no TensorFlow: the mobile runner uses them), each a `Kind`
built from the manifest's (or bundle's) `preprocessing` and `postprocessing` specs and the side
files they name. The mobile runner, export's parity check, the server's TFLite and ONNX backends
and the benchmarks all run raw input through these; the SavedModel does the same in its graph,
and the tasks' tests hold the two equal.

Adding a kind is one module here, registered in `_KINDS`, plus the task that declares it.
"""

from __future__ import annotations

from collections.abc import Mapping

from liveri.artifact.kinds.base import Encoded, InputError, Kind, KindError
from liveri.artifact.kinds.image import Image
from liveri.artifact.kinds.latent_image import LatentImage
from liveri.artifact.kinds.speech import SpeechToText
from liveri.artifact.kinds.tensors import Tensors
from liveri.artifact.kinds.text_lm import TextLm
from liveri.artifact.kinds.text_tagging import TextTagging
from liveri.artifact.kinds.text_to_text import TextToText

__all__ = ["Encoded", "InputError", "Kind", "KindError", "kind_name", "load"]

_KINDS: dict[str, type[Kind]] = {k.name: k for k in (Image, TextTagging, TextLm, TextToText,
                                                     SpeechToText, Tensors, LatentImage)}


def kind_name(postprocessing: Mapping) -> str:
    """The kind a version's postprocessing spec belongs to (`postprocessing.kind` names it)."""
    post = postprocessing.get("kind")
    for kind in _KINDS.values():
        if post in kind.postprocessing_kinds:
            return kind.name
    known = sorted(p for k in _KINDS.values() for p in k.postprocessing_kinds)
    raise KindError(f"postprocessing kind {post!r} is not supported (expected one of {known})")


def load(preprocessing: Mapping, postprocessing: Mapping, files: Mapping[str, bytes]) -> Kind:
    """The kind of these specs, ready to encode and decode; `files` holds the side files the
    specs name, by manifest key (`labels_file`, `vocab_file`)."""
    return _KINDS[kind_name(postprocessing)](dict(preprocessing), dict(postprocessing), files)
