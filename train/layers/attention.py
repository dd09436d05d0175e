"""Multi-head dot-product attention: self or cross, with padding and causal masks, and an
incremental decode cache so autoregressive decoding costs one position per step."""

from __future__ import annotations

from typing import Any

from liveri.train.layers.base_layer import BaseLayer
from liveri.train.layers.dropout import Dropout
from liveri.train.layers.linear import Linear

from liveri.lazy import tf
from liveri.params import Params

LOGIT_LIMIT = 20.0


def CausalMask(query_length: Any, source_length: Any, offset: Any = 0) -> Any:
    """[T, S] float, 1.0 where source position s is later than query position t + offset.

    Integer min/max of the position difference rather than a comparison: TFLite's 16x8
    quantizer wants a calibrated range for an int32 comparison's inputs and cannot get one.
    """
    query_pos = tf.expand_dims(tf.range(query_length) + offset, 1)
    source_pos = tf.expand_dims(tf.range(source_length), 0)
    return tf.cast(tf.minimum(tf.maximum(source_pos - query_pos, 0), 1), tf.float32)


def PaddingMask(paddings: Any) -> Any:
    """paddings [B, S] -> attention mask [B, 1, 1, S] (1.0: do not attend).

    (expand_dims rather than tf.newaxis indexing: the latter needs a select TF op in TFLite.)
    """
    return tf.expand_dims(tf.expand_dims(tf.cast(paddings, tf.float32), 1), 1)


class MultiHeadAttention(BaseLayer):
    """query [B, T, D] attends to source [B, S, source_dims] (itself when source is None);
    paddings [B, S] are 1.0 at padded source positions, which get no attention."""

    ACTIVATIONS = ("query", "key", "value", "probs")  # the batch matmuls' operands

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("input_dims", 0, "Size of the query's last axis, and of the output.")
        p.Define("source_dims", 0, "Size of the source's last axis; 0: same as input_dims.")
        p.Define("hidden_dims", 0, "Size of all heads together; 0: same as input_dims.")
        p.Define("num_heads", 1, "Number of attention heads (must divide hidden_dims).")
        p.Define("causal", False, "Position t attends only to positions <= t (self attention).")
        p.Define("atten_dropout", Dropout.Params(), "Dropout on the attention probabilities.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if p.input_dims <= 0:
            raise ValueError(f"{self.path}: input_dims must be positive")
        self.hidden_dims = p.hidden_dims or p.input_dims
        if p.num_heads <= 0 or self.hidden_dims % p.num_heads:
            raise ValueError(
                f"{self.path}: num_heads ({p.num_heads}) must divide hidden_dims "
                f"({self.hidden_dims})")
        self.head_dims = self.hidden_dims // p.num_heads
        source_dims = p.source_dims or p.input_dims

        def Proj(n_in: int, n_out: int) -> Params:
            return Linear.Params().Set(input_dims=n_in, output_dims=n_out)

        self.query = self.CreateChild("query", Proj(p.input_dims, self.hidden_dims))
        self.key = self.CreateChild("key", Proj(source_dims, self.hidden_dims))
        self.value = self.CreateChild("value", Proj(source_dims, self.hidden_dims))
        self.post = self.CreateChild("post", Proj(self.hidden_dims, p.input_dims))
        self.atten_dropout = self.CreateChild("atten_dropout", p.atten_dropout)

    # -- pieces ----------------------------------------------------------------------------
    def _SplitHeads(self, x: Any) -> Any:
        shape = tf.shape(x)
        return tf.reshape(x, [shape[0], shape[1], self.params.num_heads, self.head_dims])

    def ProjectSource(self, source: Any) -> tuple[Any, Any]:
        """source [B, S, source_dims] -> (keys, values), each [B, S, heads, head_dims]."""
        keys = self._SplitHeads(self.QAct("key", self.key(source)))
        return keys, self._SplitHeads(self.QAct("value", self.value(source)))

    def Attend(
        self, query: Any, keys: Any, values: Any, mask: Any = None, training: bool = False
    ) -> tuple[Any, Any]:
        """(output [B, T, input_dims], probs [B, heads, T, S]) for query [B, T, input_dims]
        over projected keys/values; mask [B or 1, 1, T or 1, S] is 1.0 where not to attend."""
        q = self.QAct("query", self._SplitHeads(self.query(query)) * (self.head_dims ** -0.5))
        logits = tf.einsum("btnh,bsnh->bnts", q, keys)
        # Logits are clipped to +-LOGIT_LIMIT and masked positions set to -LOGIT_LIMIT: what a
        # masked position holds cannot matter (its weight is e^-LOGIT_LIMIT against e^(largest
        # kept logit): negligible unless every kept logit is very negative), no division is
        # needed, and the logits keep a small fixed range, so full-int8 TFLite stays precise
        # (a -1e9 bias would make their int8 scale useless). Both in one clip whose upper bound
        # is -LOGIT_LIMIT where masked (same values): the [B, heads, T, S] logits are the
        # largest tensors of a long sequence, and a separate multiply and subtract over them,
        # with their gradients, were four more passes over them in every training step.
        upper = LOGIT_LIMIT
        if mask is not None:
            upper = LOGIT_LIMIT * (1.0 - 2.0 * tf.cast(mask, tf.float32))
        logits = tf.minimum(tf.maximum(tf.cast(logits, tf.float32), -LOGIT_LIMIT), upper)
        probs = self.QAct("probs", tf.nn.softmax(logits, axis=-1))
        probs = self.atten_dropout(tf.cast(probs, values.dtype), training=training)
        context = tf.einsum("bnts,bsnh->btnh", probs, values)
        shape = tf.shape(context)
        context = tf.reshape(context, [shape[0], shape[1], self.hidden_dims])
        return self.post(context), probs

    # -- full sequences --------------------------------------------------------------------
    def FProp(
        self, query: Any, source: Any = None, paddings: Any = None, training: bool = False,
        causal: bool = False,
    ) -> Any:
        """Attention output [B, T, input_dims]; see the class doc for the arguments. `causal`
        masks the future in this call even when the params do not (one set of weights run both
        ways, as a multi-task model sharing an encoder with a language model does)."""
        p = self.params
        query = self.CastToCompute(query)
        source = query if source is None else self.CastToCompute(source)
        keys, values = self.ProjectSource(source)
        masks = []
        if paddings is not None:
            masks.append(PaddingMask(paddings))
        if p.causal or causal:
            future = CausalMask(tf.shape(query)[1], tf.shape(source)[1])
            masks.append(tf.expand_dims(tf.expand_dims(future, 0), 0))
        mask = None
        for m in masks:
            mask = m if mask is None else tf.maximum(mask, m)
        return self.Attend(query, keys, values, mask, training)[0]

    # -- one position at a time ------------------------------------------------------------
    def InitCache(self, batch_size: Any, max_length: int) -> dict[str, Any]:
        """An empty self-attention cache for decoding up to `max_length` positions."""
        shape = [batch_size, max_length, self.params.num_heads, self.head_dims]
        zeros = tf.zeros(shape, self.compute_dtype)
        return {"key": zeros, "value": zeros}

    def ExtendStep(self, query: Any, cache: dict[str, Any], step: Any) -> tuple[Any, dict]:
        """Causal self attention for position `step` alone: query [B, input_dims] ->
        (output [B, input_dims], cache with this position's key and value written in)."""
        query = tf.expand_dims(self.CastToCompute(query), 1)
        new_key, new_value = self.ProjectSource(query)
        max_length = tf.shape(cache["key"])[1]
        at_step = tf.cast(tf.equal(tf.range(max_length), step), new_key.dtype)
        at_step = tf.reshape(at_step, [1, max_length, 1, 1])
        keys = cache["key"] * (1.0 - at_step) + new_key * at_step
        values = cache["value"] * (1.0 - at_step) + new_value * at_step
        mask = tf.reshape(CausalMask(1, max_length, offset=step), [1, 1, 1, max_length])
        out, _ = self.Attend(query, keys, values, mask)
        return out[:, 0, :], {"key": keys, "value": values}
