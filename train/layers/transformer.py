"""Pre-norm Transformer layers and stacks: `TransformerEncoderLayer`/`TransformerEncoder` over
feature sequences, `TransformerDecoderLayer`/`TransformerDecoder` over token ids (causal, with
optional cross attention to a source, and an incremental cache for autoregressive decoding)."""

from __future__ import annotations

from typing import Any

from liveri.train.layers.attention import MultiHeadAttention, PaddingMask
from liveri.train.layers.base_layer import BaseLayer
from liveri.train.layers.dropout import Dropout
from liveri.train.layers.embedding import Embedding
from liveri.train.layers.linear import FeedForward, Linear
from liveri.train.layers.normalization import LayerNorm
from liveri.train.layers.position import Positions, SinusoidalPositionEmbedding
from liveri.train.layers.softmax import SharedSoftmax, Softmax

from liveri.lazy import tf
from liveri.params import Params


def _LayerParams(p: Params) -> Params:
    """Knobs shared by encoder and decoder layers."""
    p.Define("model_dims", 0, "Size of the residual stream.")
    p.Define("hidden_dims", 0, "Size of the feed-forward hidden layer; 0: 4 * model_dims.")
    p.Define("num_heads", 1, "Attention heads.")
    p.Define("residual_dropout", Dropout.Params(), "Dropout on each sub-layer's output.")
    p.Define("atten_dropout", Dropout.Params(), "Dropout on attention probabilities.")
    p.Define("relu_dropout", Dropout.Params(), "Dropout inside the feed-forward layer.")
    return p


class _FeedForwardBlock(BaseLayer):
    """Pre-norm feed-forward sub-layer: x + dropout(W2 relu(W1 ln(x)))."""

    ACTIVATIONS = ("output",)  # the residual sum

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("model_dims", 0, "Size of input and output.")
        p.Define("hidden_dims", 0, "Size of the hidden layer.")
        p.Define("relu_dropout", Dropout.Params(), "Dropout after the relu.")
        p.Define("residual_dropout", Dropout.Params(), "Dropout before the residual add.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        self.norm = self.CreateChild("norm", LayerNorm.Params().Set(input_dims=p.model_dims))
        self.hidden = self.CreateChild("hidden", FeedForward.Params().Set(
            input_dims=p.model_dims, output_dims=p.hidden_dims, dropout=p.relu_dropout.Copy()))
        self.out = self.CreateChild(
            "out", Linear.Params().Set(input_dims=p.hidden_dims, output_dims=p.model_dims))
        self.dropout = self.CreateChild("dropout", p.residual_dropout)

    def FProp(self, x: Any, training: bool = False) -> Any:
        y = self.out(self.hidden(self.norm(x), training=training))
        return self.QAct("output", x + self.dropout(y, training=training))


class TransformerEncoderLayer(BaseLayer):
    """x [B, T, D] -> [B, T, D]: pre-norm self attention then feed-forward, each residual."""

    ACTIVATIONS = ("attention_residual",)

    @classmethod
    def Params(cls) -> Params:
        return _LayerParams(super().Params())

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if p.model_dims <= 0:
            raise ValueError(f"{self.path}: model_dims must be positive")
        self.atten_norm = self.CreateChild(
            "atten_norm", LayerNorm.Params().Set(input_dims=p.model_dims))
        self.atten = self.CreateChild("atten", MultiHeadAttention.Params().Set(
            input_dims=p.model_dims, num_heads=p.num_heads, atten_dropout=p.atten_dropout.Copy()))
        self.atten_dropout = self.CreateChild("atten_residual_dropout", p.residual_dropout)
        self.ffn = self.CreateChild("ffn", _FeedForwardBlock.Params().Set(
            model_dims=p.model_dims, hidden_dims=p.hidden_dims or 4 * p.model_dims,
            relu_dropout=p.relu_dropout.Copy(), residual_dropout=p.residual_dropout.Copy()))

    def FProp(self, x: Any, paddings: Any = None, training: bool = False,
              causal: bool = False) -> Any:
        """paddings [B, T]: 1.0 at padded positions, which no position attends to; `causal`:
        position t attends only to positions <= t."""
        x = self.CastToCompute(x)
        y = self.atten(self.atten_norm(x), paddings=paddings, training=training, causal=causal)
        x = self.QAct("attention_residual", x + self.atten_dropout(y, training=training))
        return self.ffn(x, training=training)


def _CreateStack(stack: BaseLayer, p: Params) -> None:
    """The children both stacks share: positions, input dropout, N layers, final norm."""
    stack.position = stack.CreateChild(
        "position", SinusoidalPositionEmbedding.Params().Set(embedding_dim=p.model_dims))
    stack.input_dropout = stack.CreateChild("input_dropout", p.input_dropout)
    layer_p = p.layer.Copy().Set(model_dims=p.model_dims)
    stack.layers = stack.CreateChildren("layer", [layer_p] * p.num_layers)
    stack.final_norm = stack.CreateChild(
        "final_norm", LayerNorm.Params().Set(input_dims=p.model_dims))


class TransformerEncoder(BaseLayer):
    """Features [B, T, input_dims] -> encodings [B, T, model_dims]: optional input projection,
    sinusoidal positions, N encoder layers, final layer norm."""

    ACTIVATIONS = ("embedded",)  # inputs plus positions

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("input_dims", 0, "Size of the input features; 0: inputs are model_dims wide.")
        p.Define("model_dims", 0, "Size of the residual stream.")
        p.Define("num_layers", 2, "Number of encoder layers.")
        p.Define("layer", TransformerEncoderLayer.Params(),
                 "Template of every layer (its model_dims is set from this stack's).")
        p.Define("input_dropout", Dropout.Params(), "Dropout on the inputs plus positions.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if p.model_dims <= 0 or p.num_layers <= 0:
            raise ValueError(f"{self.path}: model_dims and num_layers must be positive")
        self.input_proj = None
        if p.input_dims and p.input_dims != p.model_dims:
            self.input_proj = self.CreateChild("input_proj", Linear.Params().Set(
                input_dims=p.input_dims, output_dims=p.model_dims))
        _CreateStack(self, p)

    def FProp(self, inputs: Any, paddings: Any = None, training: bool = False,
              causal: bool = False) -> Any:
        """`causal`: every layer attends only to the past (the stack read as a decoder)."""
        x = self.CastToCompute(inputs)
        if self.input_proj is not None:
            x = self.input_proj(x)
        shape = tf.shape(x)
        x = self.QAct("embedded", x + self.position(Positions(shape[0], shape[1])))
        x = self.input_dropout(x, training=training)
        for layer in self.layers:
            x = layer(x, paddings=paddings, training=training, causal=causal)
        return self.final_norm(x)


class TransformerDecoderLayer(BaseLayer):
    """x [B, T, D] -> [B, T, D]: causal self attention, cross attention to a source (when
    `cross_attention`), feed-forward; each pre-norm and residual."""

    ACTIVATIONS = ("self_residual", "cross_residual")

    @classmethod
    def Params(cls) -> Params:
        p = _LayerParams(super().Params())
        p.Define("cross_attention", True, "Attend to a source (encoder-decoder); False: LM.")
        p.Define("source_dims", 0, "Size of the source's last axis; 0: model_dims.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if p.model_dims <= 0:
            raise ValueError(f"{self.path}: model_dims must be positive")

        def Atten(causal: bool, source_dims: int = 0) -> Params:
            return MultiHeadAttention.Params().Set(
                input_dims=p.model_dims, source_dims=source_dims, num_heads=p.num_heads,
                causal=causal, atten_dropout=p.atten_dropout.Copy())

        def Norm() -> Params:
            return LayerNorm.Params().Set(input_dims=p.model_dims)

        self.self_norm = self.CreateChild("self_norm", Norm())
        self.self_atten = self.CreateChild("self_atten", Atten(causal=True))
        self.self_dropout = self.CreateChild("self_residual_dropout", p.residual_dropout)
        self.cross_atten = None
        if p.cross_attention:
            self.cross_norm = self.CreateChild("cross_norm", Norm())
            self.cross_atten = self.CreateChild(
                "cross_atten", Atten(causal=False, source_dims=p.source_dims))
            self.cross_dropout = self.CreateChild("cross_residual_dropout", p.residual_dropout)
        self.ffn = self.CreateChild("ffn", _FeedForwardBlock.Params().Set(
            model_dims=p.model_dims, hidden_dims=p.hidden_dims or 4 * p.model_dims,
            relu_dropout=p.relu_dropout.Copy(), residual_dropout=p.residual_dropout.Copy()))

    def _Cross(self, x: Any, keys: Any, values: Any, source_paddings: Any,
               training: bool) -> Any:
        mask = None
        if source_paddings is not None:
            mask = PaddingMask(source_paddings)
        y, _ = self.cross_atten.Attend(self.cross_norm(x), keys, values, mask, training)
        return self.QAct("cross_residual", x + self.cross_dropout(y, training=training))

    def FProp(
        self, x: Any, paddings: Any = None, source: Any = None, source_paddings: Any = None,
        training: bool = False,
    ) -> Any:
        x = self.CastToCompute(x)
        y = self.self_atten(self.self_norm(x), paddings=paddings, training=training)
        x = self.QAct("self_residual", x + self.self_dropout(y, training=training))
        if self.cross_atten is not None:
            if source is None:
                raise ValueError(f"{self.path}: cross_attention is on, so a source is needed")
            keys, values = self.cross_atten.ProjectSource(self.CastToCompute(source))
            x = self._Cross(x, keys, values, source_paddings, training)
        return self.ffn(x, training=training)

    def InitCache(self, batch_size: Any, max_length: int, source: Any = None) -> dict:
        """Self-attention cache, plus the projected source when cross attending."""
        cache = {"self": self.self_atten.InitCache(batch_size, max_length)}
        if self.cross_atten is not None:
            keys, values = self.cross_atten.ProjectSource(self.CastToCompute(source))
            cache.update(cross_key=keys, cross_value=values)
        return cache

    def ExtendStep(
        self, x: Any, cache: dict, step: Any, source_paddings: Any = None
    ) -> tuple[Any, dict]:
        """Position `step` alone: x [B, D] -> (output [B, D], updated cache)."""
        x = self.CastToCompute(x)
        y, self_cache = self.self_atten.ExtendStep(self.self_norm(x), cache["self"], step)
        x = tf.expand_dims(self.QAct("self_residual", x + y), 1)
        new_cache = dict(cache, self=self_cache)
        if self.cross_atten is not None:
            x = self._Cross(x, cache["cross_key"], cache["cross_value"], source_paddings, False)
        return self.ffn(x)[:, 0, :], new_cache


class TransformerDecoder(BaseLayer):
    """Token ids [B, T] -> logits [B, T, vocab]: embedding, sinusoidal positions, N decoder
    layers, final layer norm, softmax (sharing the embedding table when `tie_embedding`)."""

    ACTIVATIONS = ("embedded",)  # embeddings plus positions

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("vocab_size", 0, "Number of tokens.")
        p.Define("model_dims", 0, "Size of the residual stream.")
        p.Define("num_layers", 2, "Number of decoder layers.")
        p.Define("layer", TransformerDecoderLayer.Params(),
                 "Template of every layer (its model_dims is set from this stack's).")
        p.Define("tie_embedding", True, "One table embeds input tokens and scores outputs.")
        p.Define("input_dropout", Dropout.Params(), "Dropout on embeddings plus positions.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if p.vocab_size <= 0 or p.model_dims <= 0 or p.num_layers <= 0:
            raise ValueError(f"{self.path}: vocab_size, model_dims, num_layers must be positive")
        emb_p = dict(vocab_size=p.vocab_size, embedding_dim=p.model_dims, scale_sqrt_depth=True)
        if p.tie_embedding:
            self.softmax = self.CreateChild("softmax", SharedSoftmax.Params().Set(**emb_p))
            self.embedding = self.softmax
        else:
            self.embedding = self.CreateChild("embedding", Embedding.Params().Set(**emb_p))
            self.softmax = self.CreateChild("softmax", Softmax.Params().Set(
                input_dims=p.model_dims, num_classes=p.vocab_size))
        _CreateStack(self, p)

    def FProp(
        self, ids: Any, paddings: Any = None, source: Any = None, source_paddings: Any = None,
        training: bool = False,
    ) -> Any:
        """Logits [B, T, vocab] (float32); position t sees ids[:, :t+1] only."""
        shape = tf.shape(ids)
        x = self.embedding(ids) + self.position(Positions(shape[0], shape[1]))
        x = self.QAct("embedded", x)
        x = self.input_dropout(x, training=training)
        for layer in self.layers:
            x = layer(x, paddings=paddings, source=source, source_paddings=source_paddings,
                      training=training)
        return tf.cast(self.softmax.Logits(self.final_norm(x)), tf.float32)

    def InitCache(
        self, batch_size: Any, max_length: int, source: Any = None, source_paddings: Any = None
    ) -> dict:
        """The decode state for `ExtendStep`: every layer's cache, and the source paddings.
        Every entry has the batch as its first axis (so beam search can tile and reorder it)."""
        cache: dict[str, Any] = {
            f"layer_{i}": layer.InitCache(batch_size, max_length, source)
            for i, layer in enumerate(self.layers)}
        if source is not None:
            if source_paddings is None:
                source_paddings = tf.zeros(tf.shape(source)[:2], tf.float32)
            cache["source_paddings"] = tf.cast(source_paddings, tf.float32)
        return cache

    def ExtendStep(self, ids: Any, cache: dict, step: Any) -> tuple[Any, dict]:
        """ids [B] at position `step` -> (logits [B, vocab] float32, updated cache); equals
        FProp's logits at `step` given the same earlier ids."""
        x = self.QAct("embedded", self.embedding(ids) + self.position(step))
        source_paddings = cache.get("source_paddings")
        new_cache = dict(cache)
        for i, layer in enumerate(self.layers):
            x, new_cache[f"layer_{i}"] = layer.ExtendStep(
                x, cache[f"layer_{i}"], step, source_paddings)
        return tf.cast(self.softmax.Logits(self.final_norm(x)), tf.float32), new_cache
