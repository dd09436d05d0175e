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
    # The loader runs the graph in a session, not through the eager function: its lowered cond
    # and loop must still answer what TensorFlow's own call answers, every time.
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


class _Vocabulary(tf.Module):
    """A TF2 model whose lookup table is filled from a vocabulary file, an asset of the model."""

    def __init__(self, vocab_path: str) -> None:
        super().__init__()
        self.vocab = tf.saved_model.Asset(vocab_path)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(self.vocab, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                                          tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER), -1)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words")])
    def serve(self, words: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"ids": self.table.lookup(words)}


def test_a_table_filled_from_an_asset_is_ready_after_loading_even_when_its_source_is_gone(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("the\nquick\nfox\n")
    module = _Vocabulary(str(vocab))
    path = str(tmp_path / "model")
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    vocab.unlink()  # the model must read its own copy under assets/
    servable = load_saved_model("vocab", 1, path)
    words = np.array([b"fox", b"the", b"dog"], dtype=object)
    np.testing.assert_array_equal(servable.signatures["serving_default"].run_direct(
        {"words": words})["ids"], [2, 0, -1])
