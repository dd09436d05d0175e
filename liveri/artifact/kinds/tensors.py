"""Plain named tensors, for models Liveri did not train: features are the signature's inputs as
given, the answer is the outputs as computed. Parity of such a version compares outputs within a
tolerance (`liveri.export.foreign`), not answers, so this kind has no agreement key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from liveri.artifact.kinds.base import Encoded, InputError, Kind


class Tensors(Kind):
    name = "tensors"
    postprocessing_kinds = ("tensors",)
    input_flag = "--input-file X.npy (or .npz, one array per input)"

    def __init__(self, preprocessing: dict[str, Any], postprocessing: dict[str, Any],
                 files: Mapping[str, bytes]) -> None:
        super().__init__(preprocessing, postprocessing, files)
        # {name: {"dtype", "shape"}} of the signature's inputs, in order.
        self.inputs: dict[str, dict[str, Any]] = dict(preprocessing.get("inputs", {}))

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.inputs)

    def encode(self, examples: Sequence[Any]) -> Encoded:
        """Examples: each a {input name: array} (or one array for a one-input model), stacked."""
        rows = [self._named(x) for x in examples]
        features = {}
        for name, spec in self.inputs.items():
            values = [self._checked(name, r[name]) for r in rows]
            try:
                features[name] = np.stack(values).astype(spec["dtype"])
            except (ValueError, TypeError) as e:
                raise InputError(f"input {name!r}: cannot batch as {spec['dtype']} ({e}); "
                                 f"expected {self._describe(name)}") from None
        return Encoded(features, len(rows))

    def _checked(self, name: str, value: np.ndarray) -> np.ndarray:
        """One example of input `name`, its shape checked against the signature's (less the
        batch axis; None dims take any size)."""
        shape = self.inputs[name]["shape"]
        want = list(shape[1:]) if shape else None
        if want is not None and (value.ndim != len(want) or any(
                w is not None and w >= 0 and w != g for w, g in zip(want, value.shape))):
            raise InputError(f"input {name!r}: one example has shape {list(value.shape)}; "
                             f"expected {want} (the signature's {shape} less the batch axis)")
        return value

    def _named(self, x: Any) -> dict[str, Any]:
        if not isinstance(x, Mapping):
            if len(self.inputs) != 1:
                raise InputError(f"expected one array per input, named {list(self.inputs)}")
            x = {next(iter(self.inputs)): x}
        missing = [n for n in self.inputs if n not in x]
        if missing:
            raise InputError(f"missing input {missing[0]!r}; expected {list(self.inputs)}")
        try:
            return {n: np.asarray(x[n]) for n in self.inputs}
        except ValueError as e:
            raise InputError(f"not a rectangular array ({e})") from None

    def _describe(self, name: str) -> str:
        spec = self.inputs[name]
        return f"{spec['dtype']} of shape {spec['shape']} per batch"

    def decode(self, encoded: Encoded, outputs: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
        arrays = {k: np.asarray(v) for k, v in sorted(outputs.items())}
        return [{k: v[i].tolist() for k, v in arrays.items()} for i in range(encoded.size)]

    def examples_from_serving(self, inputs: Mapping[str, np.ndarray]) -> list[Any]:
        n = len(next(iter(inputs.values())))
        return [{k: np.asarray(v)[i] for k, v in inputs.items()} for i in range(n)]

    def serving_inputs(self, examples: Sequence[Any]) -> dict[str, np.ndarray]:
        return self.encode(examples).features

    def serving_outputs(self, answers: list[dict[str, Any]], names: Sequence[str],
                        outputs: Mapping[str, np.ndarray] | None = None
                        ) -> dict[str, np.ndarray]:
        return {n: np.array([a[n] for a in answers]) for n in names}

    def expects(self) -> str:
        return "; ".join(f"{n}: {self._describe(n)}" for n in self.inputs)
