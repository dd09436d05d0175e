"""The one interface every Liveri layer shares.

A layer declares its knobs in `Params()`, builds its children and variables in `__init__` from
those params (`CreateChild`, `CreateVariable`), and computes in `FProp`. Base params (dtype,
compute dtype, weight init, seed, variational noise `vn.*`) flow from parent to child unless the
child sets them.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

from liveri.train.layers.variational_noise import AddNoise

from liveri.lazy import tf
from liveri.params import Params

# Params every layer inherits from its parent when left at None.
INHERITED = (
    "dtype", "fprop_dtype", "params_init", "init_scale", "random_seed",
    "vn.global_vn", "vn.scale", "vn.start_step", "vn.seed",
)
_ROOT_DEFAULTS = {
    "dtype": "float32",
    "fprop_dtype": None,
    "params_init": "xavier",
    "init_scale": 1.0,
    "random_seed": 1234,
    "vn.global_vn": False,
    "vn.scale": 0.0,
    "vn.start_step": 0,
    "vn.seed": None,
}


def VariationalNoiseParams() -> Params:
    """The `vn` section: Gaussian noise added to weights in training (Lingvo's `p.vn`)."""
    p = Params()
    p.Define("global_vn", None, "Add noise to every weight; None inherits (root: False).",
             type=bool)
    p.Define("scale", None, "Stddev of the noise; None inherits (root: 0.0).", type=float)
    p.Define("start_step", None, "First global step with noise; None inherits (root: 0).",
             type=int)
    p.Define("seed", None, "Seed of the noise; None inherits (root: random_seed).", type=int)
    return p


class BaseLayer:
    """Base of all layers: params in, TF2 variables held, children built explicitly."""

    ACTIVATIONS: tuple[str, ...] = ()  # tensors QAct may fake-quantize (see QAct)

    @classmethod
    def Params(cls) -> Params:
        p = Params()
        p.Define("cls", cls, "The layer class these params build.")
        p.Define("name", "", "Layer name; its variables are named under the layer's path.")
        p.Define("dtype", None, "Variable dtype; None inherits (root: float32).", type=str)
        p.Define(
            "fprop_dtype",
            None,
            "Compute dtype, e.g. 'float16' for mixed precision; None inherits (root: dtype).",
            type=str,
        )
        p.Define(
            "params_init",
            None,
            "Weight init: xavier, gaussian, uniform or zeros; None inherits (root: xavier).",
            type=str,
        )
        p.Define("init_scale", None, "Scale of the weight init; None inherits (root: 1.0).", type=float)
        p.Define("random_seed", None, "Seed of weight init; None inherits (root: 1234).", type=int)
        p.Define("vn", VariationalNoiseParams(), "Variational weight noise, used in training.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        resolved = params.Copy()
        for key in INHERITED:
            if resolved.Get(key) is None and _ROOT_DEFAULTS[key] is not None:
                resolved.SetKey(key, _ROOT_DEFAULTS[key])
        self.params = resolved.Freeze()
        self.path = path if path is not None else (params.name or type(self).__name__.lower())
        self._children: dict[str, BaseLayer] = {}
        self._variables: dict[str, Any] = {}
        # Filled by quantization-aware training (export/qat.py): one fake quantizer per name.
        self.activation_quantizers: dict[str, Callable[[Any], Any]] = {}

    # -- building --------------------------------------------------------------------------
    def CreateChild(self, name: str, child_params: Params) -> BaseLayer:
        """Build child `name` from its params, filling inherited base params from this layer."""
        p = child_params.Copy()
        if not p.name:
            p.name = name
        for key in INHERITED:
            if p.Get(key) is None:
                p.SetKey(key, self.params.Get(key))
        child = p.cls(p, path=f"{self.path}/{name}")
        self._children[name] = child
        return child

    def CreateChildren(self, name: str, params_list: list[Params]) -> list[BaseLayer]:
        return [self.CreateChild(f"{name}_{i}", p) for i, p in enumerate(params_list)]

    def CreateVariable(
        self,
        name: str,
        shape: tuple[int, ...],
        init: str | None = None,
        trainable: bool = True,
        fan: tuple[int, int] | None = None,
        aggregation: str | None = None,
    ) -> Any:
        """A tf.Variable named `<path>/<name>`, initialised as `init` (default: params_init).

        `aggregation` ('mean', 'sum') says how tf.distribute replicas combine assignments, for
        variables a layer updates itself (BatchNorm's moving averages).
        """
        p = self.params
        init = init or p.params_init
        full_name = f"{self.path}/{name}"
        seed = (p.random_seed + zlib.crc32(full_name.encode())) % (2**31)
        initializer = _initializer(init, p.init_scale, shape, seed, fan)
        kwargs = {} if aggregation is None else {
            "aggregation": getattr(tf.VariableAggregation, aggregation.upper())}
        var = tf.Variable(
            initializer, name=full_name.replace("/", "."), trainable=trainable, dtype=p.dtype,
            **kwargs,
        )
        self._variables[name] = var
        return var

    # -- reading ---------------------------------------------------------------------------
    @property
    def children(self) -> dict[str, BaseLayer]:
        return dict(self._children)

    def VariablesByPath(self) -> dict[str, Any]:
        """Every variable of this layer and its descendants, keyed by `path/name`."""
        out = {f"{self.path}/{n}": v for n, v in self._variables.items()}
        for child in self._children.values():
            out.update(child.VariablesByPath())
        return out

    @property
    def variables(self) -> list[Any]:
        return list(self.VariablesByPath().values())

    @property
    def trainable_variables(self) -> list[Any]:
        return [v for v in self.variables if v.trainable]

    @property
    def compute_dtype(self) -> str:
        return self.params.fprop_dtype or self.params.dtype

    def CastToCompute(self, x: Any) -> Any:
        """`x` (a tensor or array) as a tensor of the compute dtype."""
        x = tf.convert_to_tensor(x)
        return tf.cast(x, self.compute_dtype) if x.dtype != self.compute_dtype else x

    def Weight(self, var: Any) -> Any:
        """A variable as the compute dtype (mixed precision keeps float32 masters)."""
        return tf.cast(var, self.compute_dtype) if var.dtype != self.compute_dtype else var

    def NoisyWeight(self, var: Any) -> Any:
        """`Weight(var)` plus variational noise while a `variational_noise.Step` is active."""
        return AddNoise(self.params.vn, self.params.random_seed, var, self.Weight(var))

    def QAct(self, name: str, x: Any) -> Any:
        """`x` through the fake quantizer attached for activation `name`, else `x` itself.

        Full-int8 TFLite stores every tensor in 8 bits; a layer names in `ACTIVATIONS` the
        tensors worth quantizing while training (Lingvo's QTensor), so quantization-aware
        training can learn their ranges instead of leaving them to calibration.
        """
        if name not in self.ACTIVATIONS:
            raise ValueError(f"{self.path}: {name!r} is not in {type(self).__name__}.ACTIVATIONS")
        quantize = self.activation_quantizers.get(name)
        return x if quantize is None else quantize(x)

    def FProp(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement FProp")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.FProp(*args, **kwargs)


def _initializer(
    init: str, scale: float, shape: tuple[int, ...], seed: int, fan: tuple[int, int] | None
) -> Any:
    shape = tuple(int(d) for d in shape)
    if init == "zeros":
        return tf.zeros(shape)
    if init == "ones":
        return tf.ones(shape)
    if fan is None:
        fan_in = int(shape[0]) if len(shape) >= 1 else 1
        fan_out = int(shape[-1]) if len(shape) >= 1 else 1
        receptive = 1
        for d in shape[:-2]:
            receptive *= int(d)
        if len(shape) > 2:
            fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    else:
        fan_in, fan_out = fan
    rng = tf.random.stateless_uniform
    seeds = (seed, 0)
    if init == "xavier":
        limit = scale * (6.0 / (fan_in + fan_out)) ** 0.5
        return rng(shape, seeds, minval=-limit, maxval=limit)
    if init == "uniform":
        return rng(shape, seeds, minval=-scale, maxval=scale)
    if init == "gaussian":
        return tf.random.stateless_normal(shape, seeds, stddev=scale)
    if init == "gaussian_sqrt_fanin":
        return tf.random.stateless_normal(shape, seeds, stddev=scale / max(fan_in, 1) ** 0.5)
    raise ValueError(
        f"params_init: expected xavier, uniform, gaussian, gaussian_sqrt_fanin, zeros or ones, "
        f"got {init!r}"
    )
