"""Token embeddings: a [vocab, dims] table looked up by id."""

from __future__ import annotations

from typing import Any

from liveri.train.layers.base_layer import BaseLayer

from liveri.lazy import tf
from liveri.params import Params


class Embedding(BaseLayer):
    """ids [...] -> vectors [..., embedding_dim]; optionally scaled by sqrt(embedding_dim) as
    Transformers do when the table is shared with the softmax."""

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("vocab_size", 0, "Number of tokens.")
        p.Define("embedding_dim", 0, "Size of each embedding vector.")
        p.Define("scale_sqrt_depth", False, "Multiply looked-up vectors by sqrt(embedding_dim).")
        p.params_init = "gaussian_sqrt_fanin"
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if p.vocab_size <= 0 or p.embedding_dim <= 0:
            raise ValueError(f"{self.path}: vocab_size and embedding_dim must be positive")
        # fan_in = embedding_dim: unit-variance outputs of x . e for unit-variance x.
        self.emb = self.CreateVariable(
            "emb", (p.vocab_size, p.embedding_dim), fan=(p.embedding_dim, p.vocab_size))

    def FProp(self, ids: Any) -> Any:
        vectors = tf.gather(self.NoisyWeight(self.emb), ids)
        if self.params.scale_sqrt_depth:
            vectors = vectors * (self.params.embedding_dim ** 0.5)
        return vectors
