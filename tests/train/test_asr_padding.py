"""speech.Asr's model: an utterance's scores do not depend on how much padding its batch has.

A server batching speech pads each request to the longest in the batch; evaluation batches do
the same. The transcript a user gets must not change with what else was in the batch.
"""

import numpy as np
import tensorflow as tf
from liveri.train.registry import experiment_params


def test_scores_are_the_same_alone_and_in_a_wider_padded_batch():
    params = experiment_params("speech.Asr", ["model.encoder.num_layers=1"])
    task = params.model.Instantiate()
    rng = np.random.default_rng(0)
    task.Logits(tf.zeros([1, 8, 80]), tf.zeros([1, 8]))  # builds the variables
    for path, variable in task.VariablesByPath().items():
        if "/conv_" in path and path.endswith("/b"):  # trained biases are not zero
            variable.assign(rng.uniform(0.1, 0.5, variable.shape).astype(np.float32))
    length, width = 37, 64  # odd, so the stride's own padding is exercised as well
    features = rng.normal(size=(1, length, 80)).astype(np.float32) * 3.0 + 1.0

    alone, alone_paddings = task.Logits(tf.constant(features), tf.zeros([1, length]))
    wide = np.concatenate([features, np.full((1, width - length, 80), 5.0, np.float32)], axis=1)
    wide_paddings = np.concatenate([np.zeros((1, length)), np.ones((1, width - length))], axis=1)
    padded, padded_paddings = task.Logits(tf.constant(wide), tf.constant(wide_paddings))

    frames = int(np.sum(1.0 - alone_paddings.numpy()))
    assert frames == int(np.sum(1.0 - padded_paddings.numpy())) > 0
    np.testing.assert_allclose(padded.numpy()[:, :frames], alone.numpy()[:, :frames], atol=1e-5)
