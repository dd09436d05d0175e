"""Images: pixels scaled to the model's float features; class scores decoded to a label."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from liveri.artifact.kinds.base import Encoded, InputError, Kind, KindError, as_array


class Image(Kind):
    name = "image"
    postprocessing_kinds = ("classify",)
    input_flag = "--input-file X.npy"

    def __init__(self, preprocessing: dict[str, Any], postprocessing: dict[str, Any],
                 files: Mapping[str, bytes]) -> None:
        super().__init__(preprocessing, postprocessing, files)
        if preprocessing.get("kind") != "image":
            raise KindError(f"preprocessing kind {preprocessing.get('kind')!r} is not image")
        self.raw = preprocessing["raw_input"]
        self.shape = tuple(self.raw["shape"])
        self.scale = np.float32(preprocessing["scale"])
        labels = files.get("labels_file")
        self.labels = labels.decode().splitlines() if labels else []

    def encode(self, examples: Sequence[Any]) -> Encoded:
        """Pixels [N, H, W] (or a list of [H, W]) -> float features [N, H, W(, 1)]."""
        x = as_array(examples, "pixels")
        if x.dtype.kind not in "uif":
            raise InputError(f"pixels: expected a numeric array of shape {list(self.shape)} (or "
                             f"a batch [N, {', '.join(map(str, self.shape))}]), got dtype "
                             f"{x.dtype}")
        if x.shape[1:] != self.shape:
            raise InputError(f"pixels: expected shape {list(self.shape)} or [N, "
                             f"{', '.join(map(str, self.shape))}], got {list(x.shape[1:])}")
        x = x.astype(np.float32) * self.scale
        x = x[..., None] if self.pre.get("add_channel_axis") else x
        return Encoded({"features": x}, len(x))

    def batch_of_one(self, x: Any) -> list[Any]:
        x = as_array(x, "pixels")
        return list(x) if x.ndim == len(self.shape) + 1 else [x]

    def decode(self, encoded: Encoded, outputs: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
        scores = np.asarray(outputs[self.scores_output])
        labels = self.labels or [str(i) for i in range(scores.shape[-1])]
        if scores.shape[-1] != len(labels):
            raise KindError(f"the model scores {scores.shape[-1]} classes but the labels file "
                            f"has {len(labels)}")
        classes = np.argmax(scores, axis=-1)
        return [{"class_id": int(c), "label": labels[int(c)], "scores": [float(s) for s in row]}
                for c, row in zip(classes, scores, strict=True)]

    def examples_from_serving(self, inputs: Mapping[str, np.ndarray]) -> list[Any]:
        return list(np.asarray(inputs[self.raw["name"]]))

    def serving_inputs(self, examples: Sequence[Any]) -> dict[str, np.ndarray]:
        return {self.raw["name"]: np.stack([np.asarray(x) for x in examples])}

    def serving_outputs(self, answers: list[dict[str, Any]], names: Sequence[str],
                        outputs: Mapping[str, np.ndarray] | None = None
                        ) -> dict[str, np.ndarray]:
        labels = np.empty(len(answers), dtype=object)
        labels[:] = [a["label"].encode() for a in answers]
        columns = {"classes": np.array([a["class_id"] for a in answers], np.int64),
                   "labels": labels,
                   "scores": np.array([a["scores"] for a in answers], np.float32)}
        if not set(names) <= set(columns):
            return super().serving_outputs(answers, names)
        return {n: columns[n] for n in names}

    def agreement_key(self, answer: dict[str, Any]) -> Any:
        return answer["class_id"]

    def expects(self) -> str:
        parts = ["one image example"]
        for key, text in (("name", "{!r}"), ("shape", "shape {}"), ("dtype", "dtype {}")):
            if key in self.raw:
                value = list(self.raw[key]) if key == "shape" else self.raw[key]
                parts.append(text.format(value))
        if "range" in self.raw:
            parts.append(f"values {self.raw['range'][0]}..{self.raw['range'][1]}")
        return ", ".join(parts)
