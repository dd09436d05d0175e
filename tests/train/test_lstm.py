"""LstmStack: shapes, padding invariance, direction, gradients."""

import numpy as np
import pytest
import tensorflow as tf
from liveri.train.layers import LstmStack


def _stack(bidirectional, **kw):
    p = LstmStack.Params().Set(input_dims=3, num_units=5, num_layers=2,
                               bidirectional=bidirectional)
    return p.Set(**kw).Instantiate()


@pytest.mark.parametrize("bidirectional,width", [(False, 5), (True, 10)])
def test_lstm_stack_shapes_and_dtype(bidirectional, width):
    stack = _stack(bidirectional)
    y = stack(tf.random.normal((4, 7, 3)))
    assert y.shape == (4, 7, width) and y.dtype == tf.float32 and stack.output_dims == width


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_padding_invariance(bidirectional):
    """Padded steps, whatever they hold and however many, leave real outputs unchanged and
    output zeros."""
    stack = _stack(bidirectional)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 3)).astype(np.float32)
    short = stack(x[:, :3]).numpy()
    longer = np.concatenate([x[:, :3], rng.normal(size=(2, 5, 3)) * 10], 1).astype(np.float32)
    paddings = np.array([[0, 0, 0, 1, 1, 1, 1, 1]] * 2, np.float32)
    padded = stack(longer, paddings).numpy()
    np.testing.assert_allclose(padded[:, :3], short, atol=1e-5)
    assert np.all(padded[:, 3:] == 0.0)


def test_lstm_forward_is_causal_and_backward_sees_the_future():
    x = np.random.default_rng(1).normal(size=(1, 6, 3)).astype(np.float32)
    changed = x.copy()
    changed[:, 4:] += 3.0
    uni = _stack(False, num_layers=1)
    np.testing.assert_allclose(uni(x).numpy()[:, :4], uni(changed).numpy()[:, :4], atol=1e-6)
    bi = _stack(True, num_layers=1)
    a, b = bi(x).numpy(), bi(changed).numpy()
    np.testing.assert_allclose(a[:, :4, :5], b[:, :4, :5], atol=1e-6)  # forward half
    assert not np.allclose(a[:, :4, 5:], b[:, :4, 5:], atol=1e-4)  # backward half


def test_lstm_gradients_finite_and_identical_under_tf_function():
    stack = _stack(True, dropout=LstmStack.Params().dropout.Set(keep_prob=0.9))
    x = tf.random.normal((2, 5, 3))
    paddings = tf.constant([[0.0] * 5, [0.0, 0.0, 1.0, 1.0, 1.0]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(stack(x, paddings, training=True) ** 2)
    grads = tape.gradient(loss, stack.trainable_variables)
    assert len(grads) == 12 and all(np.isfinite(g.numpy()).all() for g in grads)
    np.testing.assert_allclose(tf.function(stack.FProp)(x, paddings).numpy(),
                               stack(x, paddings).numpy(), atol=1e-6)


def test_lstm_layer_params_round_trip():
    p = LstmStack.Params().Set(input_dims=3, num_units=5, num_layers=3, bidirectional=True)
    q = LstmStack.Params().FromText(p.ToText())
    assert q == p and len(q.Instantiate().variables) == 3 * 2 * 3
