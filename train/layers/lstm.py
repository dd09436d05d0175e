"""LSTMs built from our own variables and `tf.scan` (no Keras), so they train under
tf.function and convert to TFLite: `LstmCell` runs one direction, `LstmStack` stacks layers,
optionally bidirectional. Padded steps (paddings = 1.0) carry the state through unchanged and
output zeros, so they never change the outputs of real steps."""

from __future__ import annotations

from typing import Any

from liveri.train.layers.base_layer import BaseLayer
from liveri.train.layers.dropout import Dropout
from liveri.train.layers.linear import MatmulLastAxis

from liveri.lazy import tf
from liveri.params import Params


class LstmCell(BaseLayer):
    """One LSTM direction over a whole sequence: inputs [B, T, input_dims] -> [B, T, units]."""

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("input_dims", 0, "Size of the input's last axis.")
        p.Define("num_units", 0, "Size of the hidden and cell state.")
        p.Define("forget_bias", 1.0, "Added to the forget gate so early training remembers.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if p.input_dims <= 0 or p.num_units <= 0:
            raise ValueError(f"{self.path}: input_dims and num_units must be positive")
        gates = 4 * p.num_units
        fan = (p.input_dims + p.num_units, gates)
        self.wx = self.CreateVariable("wx", (p.input_dims, gates), fan=fan)
        self.wh = self.CreateVariable("wh", (p.num_units, gates), fan=fan)
        self.b = self.CreateVariable("b", (gates,), init="zeros")

    def FProp(self, inputs: Any, paddings: Any, reverse: bool = False) -> Any:
        """Outputs [B, T, num_units]; `reverse` runs from the last step to the first."""
        p = self.params
        inputs = self.CastToCompute(inputs)
        # The input projection of every step at once; the loop only adds the recurrent part.
        projected = MatmulLastAxis(inputs, self.NoisyWeight(self.wx))
        projected = tf.transpose(projected + self.NoisyWeight(self.b), [1, 0, 2])
        pads = tf.transpose(tf.cast(paddings, projected.dtype), [1, 0])
        pads = tf.expand_dims(pads, 2)
        if reverse:
            projected, pads = tf.reverse(projected, [0]), tf.reverse(pads, [0])
        wh = self.NoisyWeight(self.wh)
        zeros = tf.zeros([tf.shape(inputs)[0], p.num_units], projected.dtype)

        def Step(state: tuple[Any, Any], step_in: tuple[Any, Any]) -> tuple[Any, Any]:
            h, c = state
            gates_in, pad = step_in
            i, f, g, o = tf.split(gates_in + tf.linalg.matmul(h, wh), 4, axis=-1)
            new_c = tf.sigmoid(f + p.forget_bias) * c + tf.sigmoid(i) * tf.tanh(g)
            new_h = tf.sigmoid(o) * tf.tanh(new_c)
            return pad * h + (1.0 - pad) * new_h, pad * c + (1.0 - pad) * new_c

        hs, _ = tf.scan(Step, (projected, pads), initializer=(zeros, zeros))
        hs = hs * (1.0 - pads)
        if reverse:
            hs = tf.reverse(hs, [0])
        return tf.transpose(hs, [1, 0, 2])


class LstmStack(BaseLayer):
    """inputs [B, T, input_dims], paddings [B, T] -> outputs [B, T, num_units * directions]."""

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("input_dims", 0, "Size of the input's last axis.")
        p.Define("num_units", 0, "State size of each direction of each layer.")
        p.Define("num_layers", 1, "Number of stacked layers.")
        p.Define("bidirectional", False, "Also run each layer backwards and concatenate.")
        p.Define("forget_bias", 1.0, "Forget-gate bias of every cell.")
        p.Define("dropout", Dropout.Params(), "Dropout between layers (training only).")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if p.num_layers <= 0:
            raise ValueError(f"{self.path}: num_layers must be positive")
        directions = ("fwd", "bwd") if p.bidirectional else ("fwd",)
        self.cells: list[dict[str, BaseLayer]] = []
        input_dims = p.input_dims
        for i in range(p.num_layers):
            cell_p = LstmCell.Params().Set(
                input_dims=input_dims, num_units=p.num_units, forget_bias=p.forget_bias)
            self.cells.append({d: self.CreateChild(f"{d}_{i}", cell_p) for d in directions})
            input_dims = p.num_units * len(directions)
        self.output_dims = input_dims
        self.dropout = self.CreateChild("dropout", p.dropout)

    def FProp(self, inputs: Any, paddings: Any = None, training: bool = False) -> Any:
        x = self.CastToCompute(inputs)
        if paddings is None:
            paddings = tf.zeros(tf.shape(x)[:2], x.dtype)
        for i, cells in enumerate(self.cells):
            if i > 0:
                x = self.dropout(x, training=training)
            outputs = [cell(x, paddings, reverse=(d == "bwd")) for d, cell in cells.items()]
            x = outputs[0] if len(outputs) == 1 else tf.concat(outputs, axis=-1)
        return x
