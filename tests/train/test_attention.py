"""MultiHeadAttention: masks do what they promise, and incremental decoding matches."""

import numpy as np
import pytest
import tensorflow as tf
from liveri.train.layers import MultiHeadAttention


def _atten(**kw):
    p = MultiHeadAttention.Params().Set(input_dims=8, num_heads=2, **kw)
    return p.Instantiate()


def test_attention_self_and_cross_shapes_and_dtypes():
    atten = _atten(source_dims=6)
    y = atten(tf.random.normal((2, 5, 8)), source=tf.random.normal((2, 7, 6)))
    assert y.shape == (2, 5, 8) and y.dtype == tf.float32
    half = _atten(fprop_dtype="float16")
    assert half(tf.random.normal((2, 5, 8))).dtype == tf.float16


def test_attention_padding_invariance():
    """Padded source positions, whatever they hold, do not change real outputs."""
    atten = _atten()
    rng = np.random.default_rng(0)
    query = rng.normal(size=(2, 4, 8)).astype(np.float32)
    source = rng.normal(size=(2, 6, 8)).astype(np.float32)
    paddings = np.zeros((2, 6), np.float32)
    paddings[:, 4:] = 1.0
    garbage = source.copy()
    garbage[:, 4:] = rng.normal(size=(2, 2, 8)) * 100
    a = atten(query, source=source, paddings=paddings).numpy()
    b = atten(query, source=garbage, paddings=paddings).numpy()
    c = atten(query, source=source[:, :4]).numpy()
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(a, c, atol=1e-5)
    unmasked = atten(query, source=garbage).numpy()
    assert not np.allclose(a, unmasked, atol=1e-3)


def test_attention_causality_future_does_not_change_past():
    atten = _atten(causal=True)
    x = np.random.default_rng(1).normal(size=(2, 6, 8)).astype(np.float32)
    changed = x.copy()
    changed[:, 3:] += 5.0
    a, b = atten(x).numpy(), atten(changed).numpy()
    np.testing.assert_allclose(a[:, :3], b[:, :3], atol=1e-5)
    assert not np.allclose(a[:, 3:], b[:, 3:], atol=1e-3)


def test_attention_without_causal_mask_sees_the_future():
    atten = _atten(causal=False)
    x = np.random.default_rng(1).normal(size=(1, 4, 8)).astype(np.float32)
    changed = x.copy()
    changed[:, 3:] += 5.0
    assert not np.allclose(atten(x).numpy()[:, 0], atten(changed).numpy()[:, 0], atol=1e-3)


@pytest.mark.parametrize("compiled", [False, True])
def test_attention_incremental_decode_equals_full_pass(compiled):
    atten = _atten(causal=True)
    x = tf.random.stateless_normal((3, 5, 8), (1, 2))
    full = atten(x).numpy()
    step_fn = tf.function(atten.ExtendStep) if compiled else atten.ExtendStep
    cache = atten.InitCache(3, 5)
    steps = []
    for t in range(5):
        out, cache = step_fn(x[:, t], cache, tf.constant(t))
        steps.append(out.numpy())
    np.testing.assert_allclose(np.stack(steps, 1), full, atol=1e-5)


def test_attention_gradients_finite_with_fully_padded_row():
    atten = _atten()
    x = tf.random.normal((2, 3, 8))
    paddings = tf.constant([[0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(atten(x, paddings=paddings) ** 2)
    grads = tape.gradient(loss, atten.trainable_variables)
    assert len(grads) == 8 and all(np.isfinite(g.numpy()).all() for g in grads)


def test_attention_layer_rejects_heads_not_dividing_dims():
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadAttention.Params().Set(input_dims=8, num_heads=3).Instantiate()


def test_attention_probs_are_the_softmax_of_clipped_logits_with_masked_ones_at_the_floor():
    """Logits clipped to +-LOGIT_LIMIT, masked ones set to -LOGIT_LIMIT, gradients stopped
    where clipped: the contract full-int8 TFLite relies on, checked against numpy."""
    from liveri.train.layers.attention import LOGIT_LIMIT, PaddingMask

    atten = _atten()
    rng = np.random.default_rng(1)
    query = tf.constant(rng.normal(size=(2, 3, 8)) * 40, tf.float32)  # logits well past 20
    keys, values = atten.ProjectSource(tf.constant(rng.normal(size=(2, 4, 8)), tf.float32))
    paddings = tf.constant([[0, 0, 1, 1], [0, 0, 0, 1]], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(query)
        _, probs = atten.Attend(query, keys, values, PaddingMask(paddings))
        loss = tf.reduce_sum(probs * tf.random.stateless_normal(probs.shape, [1, 2]))
    q = atten._SplitHeads(atten.query(query)).numpy() * atten.head_dims ** -0.5
    logits = np.einsum("btnh,bsnh->bnts", q, keys.numpy())
    assert np.abs(logits).max() > 2 * LOGIT_LIMIT
    expected = np.clip(logits, -LOGIT_LIMIT, LOGIT_LIMIT)
    expected = np.where(paddings.numpy()[:, None, None, :] > 0, -LOGIT_LIMIT, expected)
    expected = np.exp(expected - expected.max(-1, keepdims=True))
    np.testing.assert_allclose(probs.numpy(), expected / expected.sum(-1, keepdims=True),
                               atol=1e-6)
    assert np.isfinite(tape.gradient(loss, query).numpy()).all()
