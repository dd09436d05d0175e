"""The image and tensors kinds refuse bad raw input with a clear error (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from liveri.artifact import kinds
from liveri.artifact.kinds import InputError

IMAGE_PRE = {"kind": "image", "scale": 1 / 16, "add_channel_axis": True,
             "raw_input": {"name": "pixels", "shape": [8, 8], "dtype": "uint8 or float32"}}


def test_image_kind_refuses_ragged_and_misshapen_pixels() -> None:
    image = kinds.load(IMAGE_PRE, {"kind": "classify"}, {})
    with pytest.raises(InputError, match="not a rectangular array"):
        image.batch_of_one([[1, 2], [3]])
    with pytest.raises(InputError, match=r"expected shape \[8, 8\] .* got \[8, 7\]"):
        image.encode([np.zeros((8, 7))])
    encoded = image.encode([np.full((8, 8), 16, np.uint8)])
    assert encoded.features["features"].shape == (1, 8, 8, 1)
    assert float(encoded.features["features"].max()) == 1.0


def test_tensors_kind_checks_each_example_against_the_signature() -> None:
    pre = {"kind": "tensors", "inputs": {"x": {"dtype": "float32", "shape": [None, 3]},
                                         "n": {"dtype": "int64", "shape": [None]}}}
    tensors = kinds.load(pre, {"kind": "tensors"}, {})
    encoded = tensors.encode([{"x": [1, 2, 3], "n": 4}, {"x": [0, 0, 1], "n": 5}])
    assert encoded.features["x"].dtype == np.float32 and encoded.features["x"].shape == (2, 3)
    assert encoded.features["n"].tolist() == [4, 5]
    with pytest.raises(InputError, match=r"input 'x': one example has shape \[5\]; expected "
                                         r"\[None, 3\]|\[3\]"):
        tensors.encode([{"x": np.zeros(5), "n": 1}])
    with pytest.raises(InputError, match="missing input 'n'"):
        tensors.encode([{"x": np.zeros(3)}])
    with pytest.raises(InputError, match="one array per input"):
        tensors.encode([np.zeros(3)])
    answers = tensors.decode(encoded, {"y": np.array([[1.0], [2.0]])})
    assert answers == [{"y": [1.0]}, {"y": [2.0]}]
