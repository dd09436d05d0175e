"""Punctuation and language modelling with one shared Transformer: UniLM's idea (Dong et al.,
2019) of one set of weights read two ways, bidirectionally and causally.

The punctuation head tags the lowercased, unpunctuated source as PunctuatorTagger does (every
position sees the whole sentence). The language-model head predicts each next token of the
original sentence, punctuation and case included, through the same embedding and encoder with
the future masked. So the encoder learns from both losses, weighted by `task_weights`, and the
LM teaches it where prose puts its marks. Export and serving see the punctuation head only.
"""

from __future__ import annotations

import math
from typing import Any

from liveri.train.input import tokenizers
from liveri.train.layers.softmax import Softmax
from liveri.train.tasks.punctuator import PunctuatorTagger
from liveri.train.tasks.token_loss import perplexity

from liveri.lazy import tf
from liveri.params import Params


class PunctuatorLm(PunctuatorTagger):
    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("task_weights", (1.0, 0.5), "Loss weights of (punctuation, language model).")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        self.lm_softmax = self.CreateChild("lm_softmax", Softmax.Params().Set(
            input_dims=p.model_dims, num_classes=p.vocab_size))

    def LmLogits(self, ids: Any, paddings: Any, training: bool = False) -> Any:
        """Next-token logits [B, T, vocab]: position t sees ids[:, :t+1] only."""
        x = self.encoder(self.embedding(ids), paddings=paddings, training=training, causal=True)
        return tf.cast(self.lm_softmax(x), tf.float32)

    def ComputeLoss(self, batch: dict[str, Any], training: bool) -> tuple[Any, dict[str, Any]]:
        punct_loss, metrics = super().ComputeLoss(batch, training)
        paddings = tf.cast(batch["tgt_paddings"], tf.float32)
        log_probs = tf.nn.log_softmax(self.LmLogits(batch["tgt_ids"], paddings, training))
        real = 1.0 - paddings
        nll = -tf.gather(log_probs, batch["tgt_labels"], batch_dims=2) * real
        tokens = tf.reduce_sum(real)
        metrics["lm_loss"] = (tf.reduce_sum(nll), tokens)
        punct_weight, lm_weight = self.params.task_weights
        return (punct_weight * punct_loss
                + lm_weight * tf.reduce_sum(nll) / tf.maximum(tokens, 1.0)), metrics

    def FinalizeMetrics(self, means: dict[str, float]) -> dict[str, float]:
        return {**super().FinalizeMetrics(means),
                "lm_perplexity": perplexity(means["lm_loss"])}

    def ExtraMetrics(self, inp: Any, split: str, metrics: dict[str, float]) -> dict[str, float]:
        """The LM's perplexity per character (each character and </s>), the unit of the
        character-level text.TransformerLm, from its per-token loss over the same sentences."""
        tok = inp.Tokenizer()
        texts = inp.Sentences(split)
        tokens = sum(len(tok.encode_numpy(t)) + 1 for t in texts)
        chars = sum(len(tokenizers.normalize(t)) + 1 for t in texts)
        return {"lm_char_perplexity": math.exp(metrics["lm_loss"] * tokens / max(chars, 1))}
