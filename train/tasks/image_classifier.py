"""Image classification: pixels -> conv stack -> feed-forward -> class logits.

Preprocessing (pixel scaling) and decoding (softmax, argmax, label) are part of the task, so the
exported graph takes raw pixels and answers with the label.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from liveri.train.layers.dropout import Dropout
from liveri.train.layers.linear import FeedForward, Linear
from liveri.train.layers.softmax import SmoothLabels
from liveri.train.tasks.conv_image import ConvImageTask

from liveri.lazy import tf
from liveri.params import Params


class ImageClassifier(ConvImageTask):
    input_kind = "image"
    main_metric = "accuracy"
    higher_is_better = True

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("labels", [str(i) for i in range(10)], "Class names, in class-id order.")
        p.Define("hidden_dims", 64, "Width of the feed-forward layer after the convolutions.")
        p.Define("dropout", Dropout.Params().Set(keep_prob=0.8), "Dropout before the logits.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        self.hidden = self.CreateChild("hidden", FeedForward.Params().Set(
            input_dims=self.flat_dims, output_dims=p.hidden_dims))
        self.dropout = self.CreateChild("dropout", p.dropout)
        self.logits = self.CreateChild(
            "logits", Linear.Params().Set(input_dims=p.hidden_dims, output_dims=len(p.labels))
        )

    @property
    def num_classes(self) -> int:
        return len(self.params.labels)

    def Encode(self, features: Any, training: bool = False) -> Any:
        """Features -> the hidden vector [N, hidden_dims] the heads read (a shared trunk)."""
        x = self.hidden(self.ConvFeatures(features), training=training)
        return self.dropout(x, training=training)

    def Logits(self, features: Any, training: bool = False) -> Any:
        return tf.cast(self.logits(self.Encode(features, training)), tf.float32)

    def BatchLogits(self, batch: dict[str, Any], training: bool) -> Any:
        return self.Logits(self.Preprocess(batch["pixels"]), training=training)

    def ComputeLoss(self, batch: dict[str, Any], training: bool) -> tuple[Any, dict[str, Any]]:
        return self.LossFromLogits(batch, self.BatchLogits(batch, training))

    def LossFromLogits(self, batch: dict[str, Any], logits: Any) -> tuple[Any, dict[str, Any]]:
        labels = tf.one_hot(batch["label"], self.num_classes)
        losses = tf.nn.softmax_cross_entropy_with_logits(
            SmoothLabels(labels, self.params.label_smoothing), logits
        )
        count = tf.cast(tf.shape(logits)[0], tf.float32)
        correct = tf.cast(tf.equal(tf.argmax(logits, -1), batch["label"]), tf.float32)
        metrics = {
            "loss": (tf.reduce_sum(losses), count),
            "accuracy": (tf.reduce_sum(correct), count),
        }
        return tf.reduce_mean(losses), metrics

    # -- export ----------------------------------------------------------------------------
    def ServeFeatures(self, features: Any) -> dict[str, Any]:
        """Features [N, H, W, 1] in [0, 1] -> class probabilities (what TFLite runs)."""
        return {"scores": tf.nn.softmax(self.Logits(features))}

    def Serve(self, pixels: Any) -> dict[str, Any]:
        """Raw pixels -> class id, label and probabilities (the serving signature)."""
        scores = self.ServeFeatures(self.Preprocess(pixels))["scores"]
        classes = tf.argmax(scores, -1)
        labels = tf.gather(tf.constant(self.params.labels), classes)
        return {"classes": classes, "labels": labels, "scores": scores}

    def ExportSignatures(self, inp: Any) -> dict[str, Any]:
        h, w = self.params.image_height, self.params.image_width
        return {
            "serving_default": tf.function(
                self.Serve, input_signature=[tf.TensorSpec([None, h, w], tf.uint8, "pixels")]),
            "predict_float": tf.function(
                self.Serve, input_signature=[tf.TensorSpec([None, h, w], tf.float32, "pixels")]),
            "features": tf.function(self.ServeFeatures, input_signature=[
                tf.TensorSpec([None, h, w, 1], tf.float32, "features")]),
        }

    def ServingInputs(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"pixels": raw["pixels"]}

    def AnswerMetrics(self, answers: list[dict[str, Any]],
                      raw: dict[str, np.ndarray]) -> dict[str, float]:
        classes = np.array([a["class_id"] for a in answers])
        return {"accuracy": float(np.mean(classes == raw["label"]))}

    def PreprocessingSpec(self, inp: Any) -> dict[str, Any]:
        """How a device turns raw pixels into the `features` input (for bundles)."""
        p = self.params
        return {
            "kind": "image",
            "raw_input": {"name": "pixels", "shape": [p.image_height, p.image_width],
                          "dtype": "uint8 or float32", "range": [0, p.pixel_max]},
            "scale": 1.0 / p.pixel_max,
            "add_channel_axis": True,
        }

    def PostprocessingSpec(self, inp: Any) -> dict[str, Any]:
        return {"kind": "classify", "scores_output": "scores", "labels_file": "labels.txt",
                "answer": "argmax of scores -> labels[class]"}

    def AssetFiles(self, inp: Any) -> dict[str, str]:
        """Files shipped beside the artifacts in `liveri/` (and in bundles)."""
        return {"labels.txt": "\n".join(self.params.labels) + "\n"}
