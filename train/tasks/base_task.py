"""What every task adds to a layer: a loss with metrics, and decoding for export.

The trainer calls `ComputeLoss`; the exporter calls `Serve` (raw input -> decoded answer and
scores) and, for TFLite, `ServeFeatures` (preprocessed features -> scores).
"""

from __future__ import annotations

from typing import Any

from liveri.train.layers.base_layer import BaseLayer

from liveri.params import Params


class BaseTask(BaseLayer):
    # What a client sends: "image", "text" or "audio".
    input_kind: str = ""
    # The main eval metric, and whether higher is better.
    main_metric: str = ""
    higher_is_better: bool = True

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("label_smoothing", 0.0, "Label smoothing of the cross-entropy loss.")
        return p

    def ComputeLoss(self, batch: dict[str, Any], training: bool) -> tuple[Any, dict[str, Any]]:
        """(scalar loss, {metric: (sum, count)}) for one batch."""
        raise NotImplementedError

    def Serve(self, raw: Any) -> dict[str, Any]:
        raise NotImplementedError

    def ServeFeatures(self, features: Any) -> dict[str, Any]:
        raise NotImplementedError
