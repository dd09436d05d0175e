"""Language modelling: a Transformer decoder predicting each next token of a sentence.

The exported graph takes raw text and answers with its log-probability and perplexity under
the model, and the most likely next token after it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from liveri.train.input import tokenizers
from liveri.train.layers.transformer import TransformerDecoder
from liveri.train.tasks.base_task import BaseTask
from liveri.train.tasks.token_loss import perplexity, token_cross_entropy

from liveri.lazy import tf
from liveri.params import Params


class TransformerLm(BaseTask):
    input_kind = "text"
    main_metric = "perplexity"
    higher_is_better = False
    onnx_signature = "features"

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("vocab_size", 4000, "Size of the token vocab (the input's vocab_size).")
        p.Define("decoder", TransformerDecoder.Params(), "The decoder-only Transformer.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        dec = p.decoder.Copy().Set(vocab_size=p.vocab_size)
        dec.layer.cross_attention = False
        self.decoder = self.CreateChild("decoder", dec)

    def TokenLogProbs(self, ids: Any, labels: Any, paddings: Any, training: bool = False
                      ) -> tuple[Any, Any]:
        """(log p(label_t | ids_<=t) [B, T] with padded positions 0, logits [B, T, V])."""
        logits = self.decoder(ids, paddings=paddings, training=training)
        log_probs = tf.nn.log_softmax(logits, axis=-1)
        picked = tf.gather(log_probs, labels, batch_dims=2)
        return picked * (1.0 - tf.cast(paddings, tf.float32)), logits

    def ComputeLoss(self, batch: dict[str, Any], training: bool) -> tuple[Any, dict[str, Any]]:
        paddings = tf.cast(batch["paddings"], tf.float32)
        logits = self.decoder(batch["ids"], paddings=paddings, training=training)
        return token_cross_entropy(logits, batch["labels"], paddings,
                                   self.params.label_smoothing)

    def FinalizeMetrics(self, means: dict[str, float]) -> dict[str, float]:
        return {**means, "perplexity": perplexity(means["loss"])}

    def ExtraMetrics(self, inp: Any, split: str, metrics: dict[str, float]) -> dict[str, float]:
        """The perplexity of a unigram model (train counts, add-one) on the same tokens, and
        the model's perplexity as a fraction of it (the experiment's goal: <= 1/3)."""
        tok = inp.Tokenizer()
        counts = np.ones(tok.vocab_size, np.float64)
        for text in inp.Sentences("train"):
            counts += np.bincount(tok.encode_numpy(text), minlength=tok.vocab_size)
            counts[tokenizers.EOS_ID] += 1
        log_p = np.log(counts / counts.sum())
        nll, n = 0.0, 0
        for text in inp.Sentences(split):
            ids = np.append(tok.encode_numpy(text), tokenizers.EOS_ID)
            nll -= float(np.sum(log_p[ids]))
            n += len(ids)
        unigram = float(np.exp(nll / max(n, 1)))
        return {"unigram_perplexity": unigram,
                "perplexity_ratio": metrics["perplexity"] / unigram}

    # -- export ----------------------------------------------------------------------------
    def ServeFeatures(self, ids: Any, labels: Any, paddings: Any) -> dict[str, Any]:
        """(ids, labels, paddings) [N, T] -> token log-probs [N, T] and argmax tokens [N, T]."""
        picked, logits = self.TokenLogProbs(ids, labels, paddings)
        return {"scores": picked, "predictions": tf.argmax(logits, -1, output_type=tf.int32)}

    def _Serve(self, tokenizer: Any, text: Any) -> dict[str, Any]:
        tokens = tokenizer.encode_tf(text)
        n = tf.shape(text)[0]
        bos = tf.fill([n, 1], tokenizers.BOS_ID)
        eos = tf.fill([n, 1], tokenizers.EOS_ID)
        ids = tf.concat([bos, tokens], axis=1)
        labels = tf.concat([tokens, eos], axis=1)
        lengths = labels.row_lengths()
        dense_ids, dense_labels = ids.to_tensor(0), labels.to_tensor(0)
        paddings = 1.0 - tf.sequence_mask(lengths, tf.shape(dense_ids)[1], tf.float32)
        out = self.ServeFeatures(dense_ids, dense_labels, paddings)
        log_prob = tf.reduce_sum(out["scores"], axis=1)
        perplexity = tf.exp(-log_prob / tf.cast(lengths, tf.float32))
        # The next token after the text: the prediction where the input is the text's last
        # token (position lengths - 1, whose label is </s> in training).
        last = tf.gather(out["predictions"], tf.cast(lengths, tf.int32) - 1, batch_dims=1)
        vocab = tf.constant(tokenizer.vocab)
        next_token = tf.strings.regex_replace(tf.gather(vocab, last), tokenizers.SPACE, " ")
        return {"log_prob": log_prob, "perplexity": perplexity, "next_token": next_token,
                "scores": out["scores"]}

    def ExportSignatures(self, inp: Any) -> dict[str, Any]:
        tokenizer = inp.Tokenizer()
        spec = [tf.TensorSpec([None, None], tf.int32, "ids"),
                tf.TensorSpec([None, None], tf.int32, "labels"),
                tf.TensorSpec([None, None], tf.float32, "paddings")]
        return {
            "serving_default": tf.function(
                lambda text: self._Serve(tokenizer, text),
                input_signature=[tf.TensorSpec([None], tf.string, "text")]),
            "features": tf.function(self.ServeFeatures, input_signature=spec),
        }

    def ServingInputs(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"text": np.array([str(t).encode() for t in raw["text"]], dtype=object)}

    def AnswerMetrics(self, answers: list[dict[str, Any]],
                      raw: dict[str, np.ndarray]) -> dict[str, float]:
        """Perplexity per token over all texts (their tokens and </s>)."""
        nll = -sum(a["log_prob"] for a in answers)
        tokens = sum(len(a["scores"]) for a in answers)
        return {"perplexity": float(np.exp(nll / max(tokens, 1)))}

    def PreprocessingSpec(self, inp: Any) -> dict[str, Any]:
        return {"kind": "text", "tokenizer": inp.params.tokenizer, "vocab_file": "vocab.txt",
                "inputs": {"ids": "<s> + tokens", "labels": "tokens + </s>",
                           "paddings": "1.0 = pad"}}

    def PostprocessingSpec(self, inp: Any) -> dict[str, Any]:
        return {"kind": "language_model", "scores_output": "scores",
                "answer": "perplexity = exp(-sum(scores) / tokens)"}

    def AssetFiles(self, inp: Any) -> dict[str, str]:
        return {"vocab.txt": inp.VocabPath().read_text(encoding="utf-8")}
