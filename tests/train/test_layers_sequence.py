"""Normalization, embedding, softmax, position layers and variational weight noise."""

import numpy as np
import pytest
import tensorflow as tf
from liveri.train.layers import (
    BatchNorm,
    Embedding,
    FeedForward,
    LayerNorm,
    LearnedPositionEmbedding,
    Linear,
    SharedSoftmax,
    SinusoidalPositionEmbedding,
    SmoothLabels,
    Softmax,
    TransformerEncoder,
    VariationalNoiseStep,
)


def test_layer_norm_normalizes_last_axis_and_runs_in_float16():
    norm = LayerNorm.Params().Set(input_dims=6).Instantiate()
    y = norm(tf.random.normal((3, 4, 6)) * 5.0 + 2.0).numpy()
    np.testing.assert_allclose(y.mean(-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(-1), 1.0, atol=1e-3)
    half = LayerNorm.Params().Set(input_dims=6, fprop_dtype="float16").Instantiate()
    assert half(tf.ones((2, 6))).dtype == tf.float16


def test_batch_norm_layer_trains_moving_averages_and_uses_them_at_eval():
    bn = BatchNorm.Params().Set(dim=2, decay=0.0).Instantiate()
    x = tf.constant([[[1.0, 10.0], [3.0, 30.0], [100.0, -100.0]]])
    paddings = tf.constant([[0.0, 0.0, 1.0]])  # the outlier is padding: left out of the stats
    train_out = bn(x, paddings, training=True).numpy()
    np.testing.assert_allclose(bn.moving_mean.numpy(), [2.0, 20.0], atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), [1.0, 100.0], atol=1e-4)
    np.testing.assert_allclose(train_out[0, :2], [[-1, -1], [1, 1]], atol=1e-2)
    eval_out = bn(tf.constant([[2.0, 20.0]])).numpy()
    np.testing.assert_allclose(eval_out, [[0.0, 0.0]], atol=1e-5)
    assert [v.name for v in bn.trainable_variables] == ["batchnorm.gamma:0", "batchnorm.beta:0"]


def test_embedding_layer_lookup_shape_dtype_and_scaling():
    emb = Embedding.Params().Set(vocab_size=10, embedding_dim=4).Instantiate()
    scaled = Embedding.Params().Set(vocab_size=10, embedding_dim=4,
                                    scale_sqrt_depth=True).Instantiate()
    ids = tf.constant([[1, 2, 3], [9, 0, 0]])
    out = emb(ids)
    assert out.shape == (2, 3, 4) and out.dtype == tf.float32
    np.testing.assert_allclose(out.numpy()[1, 0], emb.emb.numpy()[9])
    np.testing.assert_allclose(scaled(ids).numpy(), out.numpy() * 2.0, rtol=1e-6)


def test_shared_softmax_layer_scores_with_the_embedding_table():
    shared = SharedSoftmax.Params().Set(vocab_size=7, embedding_dim=4).Instantiate()
    x = tf.random.normal((2, 4))
    np.testing.assert_allclose(shared.Logits(x).numpy(), x.numpy() @ shared.emb.numpy().T,
                               atol=1e-5)
    assert len(shared.variables) == 2  # one table (plus bias) for embedding and softmax
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(shared.Logits(shared(tf.constant([1, 2]))))
    assert np.isfinite(tape.gradient(loss, shared.emb).numpy()).all()


def test_softmax_layer_xent_with_label_smoothing_and_paddings():
    softmax = Softmax.Params().Set(input_dims=4, num_classes=5).Instantiate()
    x = tf.random.normal((2, 3, 4))
    labels = tf.constant([[1, 2, 3], [4, 0, 0]])
    paddings = tf.constant([[0.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    loss, logits = softmax.XentLoss(x, labels, paddings, label_smoothing=0.1)
    assert loss.shape == (2, 3) and logits.shape == (2, 3, 5)
    np.testing.assert_array_equal(loss.numpy()[1, 1:], [0.0, 0.0])
    log_p = tf.nn.log_softmax(logits).numpy()[0, 0]
    expected = -(0.92 * log_p[1] + 0.02 * (log_p.sum() - log_p[1]))
    np.testing.assert_allclose(loss.numpy()[0, 0], expected, rtol=1e-5)
    smoothed = SmoothLabels(tf.one_hot([0], 4), 0.2).numpy()
    np.testing.assert_allclose(smoothed, [[0.85, 0.05, 0.05, 0.05]], atol=1e-6)


def test_position_embedding_layers_shapes_and_values():
    sinus = SinusoidalPositionEmbedding.Params().Set(embedding_dim=6).Instantiate()
    pos = sinus(tf.constant([[0, 1, 2]]))
    assert pos.shape == (1, 3, 6) and sinus.variables == []
    np.testing.assert_allclose(pos.numpy()[0, 0], [0, 0, 0, 1, 1, 1], atol=1e-6)
    np.testing.assert_allclose(pos.numpy()[0, 2, 0], np.sin(2.0), atol=1e-6)
    learned = LearnedPositionEmbedding.Params().Set(embedding_dim=6, max_length=8).Instantiate()
    np.testing.assert_allclose(learned(tf.constant([3])).numpy()[0], learned.emb.numpy()[3])
    with pytest.raises(ValueError, match="even"):
        SinusoidalPositionEmbedding.Params().Set(embedding_dim=5).Instantiate()


def test_sinusoids_come_from_tables_equal_to_the_formula_up_to_max_length():
    sinus = SinusoidalPositionEmbedding.Params().Set(embedding_dim=8, max_length=1000)
    layer = sinus.Instantiate()
    positions = np.array([0, 1, 31, 32, 33, 500, 999])  # across the coarse/fine boundaries
    frequencies = np.exp(np.arange(4) * -np.log(1e4) / 3)
    angles = positions[:, None] * frequencies
    expected = np.concatenate([np.sin(angles), np.cos(angles)], -1)
    np.testing.assert_allclose(layer(tf.constant(positions)).numpy(), expected, atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError):  # past the tables
        layer(tf.constant([1024]))


def test_variational_noise_layer_only_in_step_context_after_start_step():
    p = Linear.Params().Set(input_dims=3, output_dims=2)
    p.vn.Set(global_vn=True, scale=0.5, start_step=10)
    layer = p.Instantiate()
    x = tf.ones((1, 3))
    clean = layer(x).numpy()
    with VariationalNoiseStep(tf.constant(5)):
        np.testing.assert_array_equal(layer(x).numpy(), clean)  # before start_step
    with VariationalNoiseStep(tf.constant(10)):
        noisy_10, again_10 = layer(x).numpy(), layer(x).numpy()
    with VariationalNoiseStep(tf.constant(11)):
        noisy_11 = layer(x).numpy()
    assert not np.allclose(noisy_10, clean, atol=1e-3)
    np.testing.assert_array_equal(noisy_10, again_10)  # seeded by step: reproducible
    assert not np.allclose(noisy_10, noisy_11, atol=1e-3)
    np.testing.assert_array_equal(layer(x).numpy(), clean)  # eval is exact again


def test_variational_noise_params_flow_from_parent_to_every_projection():
    p = TransformerEncoder.Params().Set(model_dims=8, num_layers=1)
    p.vn.Set(global_vn=True, scale=0.1)
    p.layer.vn.scale = 0.2  # a child's own setting wins
    encoder = p.Instantiate()
    assert encoder.final_norm.params.vn.global_vn and encoder.final_norm.params.vn.scale == 0.1
    query = encoder.layers[0].atten.query
    assert query.params.vn.global_vn and query.params.vn.scale == 0.2
    plain = FeedForward.Params().Set(input_dims=2, output_dims=2).Instantiate()
    assert plain.children["linear"].params.vn.global_vn is False
    x = tf.random.normal((1, 3, 8))
    step = tf.Variable(0, dtype=tf.int64)

    @tf.function
    def Train():
        with VariationalNoiseStep(step):
            return encoder(x)

    first = Train().numpy()
    step.assign(1)  # the step is read at run time, not frozen at trace time
    assert not np.allclose(first, Train().numpy(), atol=1e-4)
    assert not np.allclose(first, encoder(x).numpy(), atol=1e-4)


def test_sequence_layer_params_print_and_round_trip():
    for cls, kw in [(LayerNorm, {"input_dims": 4}), (BatchNorm, {"dim": 4}),
                    (SharedSoftmax, {"vocab_size": 5, "embedding_dim": 4}),
                    (LearnedPositionEmbedding, {"embedding_dim": 4})]:
        p = cls.Params().Set(**kw)
        p.vn.start_step = 100
        text = p.ToText()
        assert "vn.start_step : 100" in text
        q = cls.Params().FromText(text)
        assert q == p and isinstance(q.Instantiate(), cls)
