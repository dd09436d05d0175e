"""Punctuation restoration as tagging (Lingvo's codelab task): for each word of lowercased,
unpunctuated text, which mark follows it (none , . ?).

A Transformer encoder reads the word tokens; a softmax on each word's last token picks its mark.
The exported graph takes the raw text and answers with the punctuated text.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from liveri.train.input import tokenizers
from liveri.train.input.punctuator import (
    MARKS,
    last_of_word_tf,
    mark_labels,
    punctuator_source_tf,
)
from liveri.train.layers.embedding import Embedding
from liveri.train.layers.softmax import SmoothLabels, Softmax
from liveri.train.layers.transformer import TransformerEncoder
from liveri.train.tasks.base_task import BaseTask

from liveri.lazy import tf
from liveri.params import Params


def _AtLeastOneColumn(ids: Any) -> Any:
    """ids [N, T] padded to T >= 1, so text without words still runs (every row all padding)."""
    return tf.pad(ids, [[0, 0], [0, tf.maximum(1 - tf.shape(ids)[1], 0)]])


class PunctuatorTagger(BaseTask):
    input_kind = "text"
    main_metric = "f1"
    higher_is_better = True
    onnx_signature = "features"  # string ops do not convert through tf2onnx

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("vocab_size", 4000, "Size of the token vocab (the input's vocab_size).")
        p.Define("model_dims", 128, "Width of the encoder.")
        p.Define("encoder", TransformerEncoder.Params(), "The Transformer encoder.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        self.embedding = self.CreateChild("embedding", Embedding.Params().Set(
            vocab_size=p.vocab_size, embedding_dim=p.model_dims, scale_sqrt_depth=True))
        self.encoder = self.CreateChild("encoder", p.encoder.Copy().Set(
            input_dims=p.model_dims, model_dims=p.model_dims))
        self.softmax = self.CreateChild("softmax", Softmax.Params().Set(
            input_dims=p.model_dims, num_classes=len(MARKS)))

    def Logits(self, ids: Any, paddings: Any, training: bool = False) -> Any:
        x = self.encoder(self.embedding(ids), paddings=paddings, training=training)
        return tf.cast(self.softmax(x), tf.float32)

    def ComputeLoss(self, batch: dict[str, Any], training: bool) -> tuple[Any, dict[str, Any]]:
        paddings = batch["src_paddings"]
        logits = self.Logits(batch["src_ids"], paddings, training=training)
        labels = tf.cast(batch["src_marks"], tf.int32)
        targets = SmoothLabels(tf.one_hot(labels, len(MARKS)), self.params.label_smoothing)
        real = 1.0 - tf.cast(paddings, tf.float32)
        losses = tf.nn.softmax_cross_entropy_with_logits(targets, logits) * real
        tokens = tf.reduce_sum(real)
        predicted = tf.cast(tf.argmax(logits, -1), tf.int32)
        is_pred = tf.cast(predicted > 0, tf.float32) * real
        is_gold = tf.cast(labels > 0, tf.float32) * real
        hits = tf.cast(tf.equal(predicted, labels), tf.float32) * is_pred * is_gold
        metrics = {
            "loss": (tf.reduce_sum(losses), tokens),
            "token_accuracy": (tf.reduce_sum(tf.cast(tf.equal(predicted, labels), tf.float32)
                                             * real), tokens),
            "precision": (tf.reduce_sum(hits), tf.reduce_sum(is_pred)),
            "recall": (tf.reduce_sum(hits), tf.reduce_sum(is_gold)),
        }
        return tf.reduce_sum(losses) / tf.maximum(tokens, 1.0), metrics

    def FinalizeMetrics(self, means: dict[str, float]) -> dict[str, float]:
        p, r = means.get("precision", 0.0), means.get("recall", 0.0)
        return {**means, "f1": 2 * p * r / (p + r) if p + r > 0 else 0.0}

    # -- export ----------------------------------------------------------------------------
    def ServeFeatures(self, ids: Any, paddings: Any) -> dict[str, Any]:
        """Token ids [N, T] and paddings -> mark probabilities [N, T, 4] (what TFLite runs)."""
        return {"scores": tf.nn.softmax(self.Logits(ids, paddings))}

    def _Serve(self, tokenizer: Any, text: Any) -> dict[str, Any]:
        words = tokenizers.WordTokenizer.pieces_tf(punctuator_source_tf(text))
        ids, word_of_token = tokenizer.encode_pieces_tf(words)
        dense_ids = _AtLeastOneColumn(ids.to_tensor(0))
        paddings = 1.0 - tf.sequence_mask(ids.row_lengths(), tf.shape(dense_ids)[1], tf.float32)
        scores = self.ServeFeatures(dense_ids, paddings)["scores"]
        token_marks = tf.RaggedTensor.from_tensor(
            tf.cast(tf.argmax(scores, -1), tf.int32), lengths=ids.row_lengths())
        word_marks = tf.ragged.boolean_mask(token_marks, last_of_word_tf(word_of_token))
        plain = tf.strings.regex_replace(words, tokenizers.SPACE, "")
        marked = tf.strings.join([plain, tf.gather(tf.constant(MARKS), word_marks)])
        return {"text": tf.strings.reduce_join(marked, axis=-1, separator=" "),
                "scores": scores}

    def ExportSignatures(self, inp: Any) -> dict[str, Any]:
        tokenizer = inp.Tokenizer()
        return {
            "serving_default": tf.function(
                lambda text: self._Serve(tokenizer, text),
                input_signature=[tf.TensorSpec([None], tf.string, "text")]),
            "features": tf.function(self.ServeFeatures, input_signature=[
                tf.TensorSpec([None, None], tf.int32, "ids"),
                tf.TensorSpec([None, None], tf.float32, "paddings")]),
        }

    def ServingInputs(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"text": np.array([t.encode() for t in raw["text"]], dtype=object)}

    def AnswerMetrics(self, answers: list[dict[str, Any]],
                      raw: dict[str, np.ndarray]) -> dict[str, float]:
        """Precision, recall and F1 of the predicted marks (no mark is not a prediction)."""
        hits, predicted, gold = 0, 0, 0
        for answer, target in zip(answers, raw["target"], strict=True):
            word_marks = np.array([MARKS.index(m) for m in answer["marks"]], np.int64)
            want = mark_labels(str(target))
            n = min(len(want), len(word_marks))
            hits += int(np.sum((word_marks[:n] == want[:n]) & (want[:n] > 0)))
            predicted += int(np.sum(word_marks > 0))
            gold += int(np.sum(want > 0))
        precision = hits / predicted if predicted else 0.0
        recall = hits / gold if gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"f1": f1}

    def PreprocessingSpec(self, inp: Any) -> dict[str, Any]:
        return {"kind": "text", "tokenizer": "word", "vocab_file": "vocab.txt",
                "source": "lowercase, drop every piece that is not a word, join with spaces",
                "inputs": {"ids": "int32 [N, T]", "paddings": "float32 [N, T], 1.0 = pad"}}

    def PostprocessingSpec(self, inp: Any) -> dict[str, Any]:
        return {"kind": "punctuate", "scores_output": "scores", "marks": list(MARKS),
                "answer": "each word followed by MARKS[argmax of its last token's scores]"}

    def AssetFiles(self, inp: Any) -> dict[str, str]:
        return {"vocab.txt": inp.VocabPath().read_text(encoding="utf-8")}

