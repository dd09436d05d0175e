"""The loader on its own: signatures of real SavedModels called directly, as the server calls them."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from liveri.serve.loader import load_saved_model


class _Branchy(tf.Module):
    """A TF2 model with data-dependent control flow: a cond and a while loop."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        y = tf.cond(tf.reduce_sum(x) > 0, lambda: x * 2.0, lambda: x - 1.0)
        _, y = tf.while_loop(lambda i, y: i < tf.size(y), lambda i, y: (i + 1, y + 1.0),
                             [tf.constant(0), y])
        return {"y": y}


def test_a_model_with_control_flow_answers_what_tensorflow_answers(tmp_path):
    # Its lowered cond and loop are beyond the single-threaded executor the loader tries first:
    # the call must fall back to the default executor and still be right, every time.
    module = _Branchy()
    path = str(tmp_path / "branchy")
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    signature = load_saved_model("branchy", 1, path).signatures["serving_default"]
    reference = tf.saved_model.load(path).signatures["serving_default"]
    for x in ([1.0, 2.0], [-3.0], [0.5, -2.0, 4.0]):
        x = np.array(x, np.float32)
        for _ in range(2):
            np.testing.assert_array_equal(signature.run_direct({"x": x})["y"],
                                          reference(x=tf.constant(x))["y"].numpy())
