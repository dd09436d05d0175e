"""What every task adds to a layer: a loss with metrics, and what export needs.

The trainer calls `ComputeLoss` (and `FinalizeMetrics` on the sums over a split). The exporter
calls `ExportSignatures` (raw input -> decoded answer in `serving_default`; numeric features ->
scores in `features`, the signature TFLite and ONNX convert), `PreprocessingSpec` and
`PostprocessingSpec` (which name the kind that encodes raw examples and decodes answers in numpy,
`liveri.artifact.kinds`) and `AnswerMetrics` (the task metric of those answers), so every
artifact is judged the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from liveri.train.layers.base_layer import BaseLayer

from liveri.params import Params


class BaseTask(BaseLayer):
    # What a client sends: "image", "text" or "audio".
    input_kind: str = ""
    # The main eval metric, and whether higher is better.
    main_metric: str = ""
    higher_is_better: bool = True
    # The metric of the exported artifacts' answers (AnswerMetrics; same direction), where the
    # main metric needs more than the answers (a VAE's ELBO); "": main_metric.
    artifact_metric: str = ""
    # The SavedModel signature tf2onnx converts (string ops do not convert: use "features").
    onnx_signature: str = "serving_default"
    # A decoder's beam-1 twin of onnx_signature, joined into the same ONNX file (`greedy` input).
    onnx_greedy_signature: str = ""
    # The signatures TFLite converts, into one flatbuffer (its manifest signature: joined by +).
    tflite_signatures: tuple[str, ...] = ("features",)

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("label_smoothing", 0.0, "Label smoothing of the cross-entropy loss.")
        return p

    def ComputeLoss(self, batch: dict[str, Any], training: bool) -> tuple[Any, dict[str, Any]]:
        """(scalar loss, {metric: (sum, count)}) for one batch."""
        raise NotImplementedError

    def BatchLogits(self, batch: dict[str, Any], training: bool) -> Any:
        """Unnormalised class scores [..., classes] for a batch: what distillation matches
        between a teacher and a student (and what a multi-task head shares its trunk for)."""
        raise NotImplementedError(f"{type(self).__name__} does not expose BatchLogits, which "
                                  "distillation needs")

    def LossFromLogits(self, batch: dict[str, Any], logits: Any) -> tuple[Any, dict[str, Any]]:
        """`ComputeLoss` from logits already computed, so distillation runs the student once."""
        raise NotImplementedError(f"{type(self).__name__} does not expose LossFromLogits, which "
                                  "distillation needs")

    def FinalizeMetrics(self, means: dict[str, float]) -> dict[str, float]:
        """Metrics that are not means (F1, perplexity) from the means over a split."""
        return means

    def ExtraMetrics(self, inp: Any, split: str, metrics: dict[str, float]) -> dict[str, float]:
        """Metrics that need the data rather than the model (e.g. a baseline to compare with)."""
        return {}

    def ExportSignatures(self, inp: Any) -> dict[str, Any]:
        """{signature name: tf.function with an input signature}; `serving_default` and
        `features` at least. `inp` gives the vocab for in-graph tokenization."""
        raise NotImplementedError

    def AnswerMetrics(self, answers: list[dict[str, Any]],
                      raw: dict[str, np.ndarray]) -> dict[str, float]:
        """{main_metric: value} of decoded answers (one per raw example) against the truth.
        The answers come from the version's kind (`liveri.artifact.kinds`), whichever artifact
        computed them."""
        raise NotImplementedError

    def ServingInputs(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """What a client sends to `serving_default` for raw examples."""
        raise NotImplementedError

    def PreprocessingSpec(self, inp: Any) -> dict[str, Any]:
        raise NotImplementedError

    def PostprocessingSpec(self, inp: Any) -> dict[str, Any]:
        raise NotImplementedError
