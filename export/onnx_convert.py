"""A SavedModel signature to ONNX with tf2onnx, and a decoder's two beams in one ONNX file.

A translator's ONNX graph holds its whole beam search (tf2onnx turns the while loop into an ONNX
`Loop`). Greedy decoding is another loop, so another graph: tf2onnx converts a `tf.cond` around
both loops into a model onnxruntime rejects (its shape inference fails inside the `If`), and an
ONNX file with two independent graphs would make onnxruntime require every input of both. So
each signature is converted alone, and `with_greedy` joins them under one `If` on an optional
`greedy` input (default false), the weights stored once. No converter offers this join, hence
by hand here.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from liveri.runtimes import GREEDY_INPUT


def convert(saved_model: str | Path, signature: str, opset: int, output: str | Path) -> None:
    """`signature` of `saved_model` as an ONNX file; RuntimeError with tf2onnx's error."""
    result = subprocess.run(
        [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(saved_model),
         "--signature_def", signature, "--tag", "serve", "--opset", str(opset),
         "--output", str(output)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"tf2onnx failed:\n{result.stderr[-2000:]}")


def convert_decoder(saved_model: str | Path, signature: str, greedy_signature: str,
                    opset: int, output: str | Path) -> None:
    """Both signatures converted and joined by `with_greedy` into `output`."""
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / "beam.onnx", Path(tmp) / "greedy.onnx"]
        for name, path in zip((signature, greedy_signature), paths):
            convert(saved_model, name, opset, path)
        joined = with_greedy(onnx.load(str(paths[0])), onnx.load(str(paths[1])))
    onnx.save(joined, str(output))


def with_greedy(beam: Any, greedy: Any) -> Any:
    """One model: `beam`'s inputs and outputs, computed by `greedy` when the optional bool
    input `greedy` is true. Both take the same inputs; equal initializers are kept once."""
    import onnx
    from onnx import compose, helper, numpy_helper

    greedy = compose.add_prefix(greedy, "greedy/")
    initializers, first_of, renamed = [], {}, {}
    for init in [*beam.graph.initializer, *greedy.graph.initializer]:
        key = (init.data_type, tuple(init.dims), hashlib.sha256(
            init.raw_data or init.SerializeToString()).hexdigest())
        if key in first_of:
            renamed[init.name] = first_of[key]
        else:
            first_of[key] = init.name
            initializers.append(init)
    _rename_inputs(greedy.graph.node, renamed)
    # The branch reads the outer inputs under its own (prefixed) names.
    feeds = [helper.make_node("Identity", [i.name.removeprefix("greedy/")], [i.name])
             for i in greedy.graph.input]
    node = helper.make_node(
        "If", [GREEDY_INPUT], [o.name for o in beam.graph.output],
        then_branch=helper.make_graph([*feeds, *greedy.graph.node], "greedy", [],
                                      list(greedy.graph.output)),
        else_branch=helper.make_graph(list(beam.graph.node), "beam", [],
                                      list(beam.graph.output)))
    flag = helper.make_tensor_value_info(GREEDY_INPUT, onnx.TensorProto.BOOL, [])
    initializers.append(numpy_helper.from_array(np.array(False), GREEDY_INPUT))
    graph = helper.make_graph([node], beam.graph.name, [*beam.graph.input, flag],
                              list(beam.graph.output), initializer=initializers)
    model = helper.make_model(graph, opset_imports=beam.opset_import,
                              ir_version=beam.ir_version)
    onnx.checker.check_model(model)
    return model


def _rename_inputs(nodes: Iterable[Any], renamed: dict[str, str]) -> None:
    """Point node inputs at their new names, in loop and branch bodies too."""
    for node in nodes:
        for i, name in enumerate(node.input):
            node.input[i] = renamed.get(name, name)
        for attr in node.attribute:
            for graph in [attr.g, *attr.graphs] if attr.HasField("g") else attr.graphs:
                _rename_inputs(graph.node, renamed)
