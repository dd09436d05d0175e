"""Transformer stacks: padding invariance, causality, incremental decoding, gradients."""

import numpy as np
import tensorflow as tf
from liveri.train.layers import TransformerDecoder, TransformerEncoder, TransformerEncoderLayer


def _encoder(**kw):
    p = TransformerEncoder.Params().Set(input_dims=6, model_dims=8, num_layers=2, **kw)
    p.layer.num_heads = 2
    return p.Instantiate()


def _decoder(cross=True, **kw):
    p = TransformerDecoder.Params().Set(vocab_size=13, model_dims=8, num_layers=2, **kw)
    p.layer.Set(num_heads=2, cross_attention=cross, source_dims=8)
    return p.Instantiate()


def test_transformer_encoder_shapes_dtypes_and_padding_invariance():
    encoder = _encoder()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 6)).astype(np.float32)
    paddings = np.zeros((2, 7), np.float32)
    paddings[0, 5:] = 1.0
    garbage = x.copy()
    garbage[0, 5:] = 50.0
    a, b = encoder(x, paddings).numpy(), encoder(garbage, paddings).numpy()
    assert a.shape == (2, 7, 8) and a.dtype == np.float32
    np.testing.assert_allclose(a[0, :5], b[0, :5], atol=1e-5)
    np.testing.assert_allclose(a[0, :5], encoder(x[:1, :5], paddings[:1, :5]).numpy()[0],
                               atol=1e-5)


def test_transformer_encoder_read_causally_ignores_the_future_with_the_same_weights():
    encoder = _encoder()
    x = np.random.default_rng(1).normal(size=(2, 6, 6)).astype(np.float32)
    later = x.copy()
    later[:, 4:] += 3.0
    causal, causal_later = encoder(x, causal=True).numpy(), encoder(later, causal=True).numpy()
    np.testing.assert_allclose(causal[:, :4], causal_later[:, :4], atol=1e-5)
    assert not np.allclose(causal[:, 4:], causal_later[:, 4:], atol=1e-3)
    assert not np.allclose(encoder(x).numpy()[:, :4], encoder(later).numpy()[:, :4], atol=1e-3)


def test_transformer_encoder_layer_mixed_precision_keeps_float32_weights():
    p = TransformerEncoderLayer.Params().Set(model_dims=8, num_heads=2, fprop_dtype="bfloat16")
    layer = p.Instantiate()
    assert layer(tf.random.normal((1, 3, 8))).dtype == tf.bfloat16
    assert all(v.dtype == tf.float32 for v in layer.variables)


def test_transformer_decoder_causality_future_ids_do_not_change_past_logits():
    decoder = _decoder()
    source = tf.random.normal((2, 4, 8))
    ids = tf.constant([[1, 5, 7, 3, 2], [1, 4, 4, 9, 2]])
    changed = tf.constant([[1, 5, 7, 11, 12], [1, 4, 4, 0, 0]])
    a = decoder(ids, source=source).numpy()
    b = decoder(changed, source=source).numpy()
    assert a.shape == (2, 5, 13) and a.dtype == np.float32
    np.testing.assert_allclose(a[:, :3], b[:, :3], atol=1e-5)
    assert not np.allclose(a[:, 3:], b[:, 3:], atol=1e-3)


def test_transformer_decoder_incremental_decode_equals_full_pass():
    decoder = _decoder()
    source = tf.random.normal((2, 4, 8))
    source_paddings = tf.constant([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    ids = tf.constant([[1, 5, 7, 3, 2, 6], [1, 4, 4, 9, 2, 8]])
    full = decoder(ids, source=source, source_paddings=source_paddings).numpy()
    cache = decoder.InitCache(2, 6, source, source_paddings)
    step_fn = tf.function(decoder.ExtendStep)
    steps = []
    for t in range(6):
        logits, cache = step_fn(ids[:, t], cache, tf.constant(t))
        steps.append(logits.numpy())
    np.testing.assert_allclose(np.stack(steps, 1), full, atol=1e-4)


def test_transformer_decoder_only_lm_incremental_decode_equals_full_pass():
    decoder = _decoder(cross=False, tie_embedding=False)
    ids = tf.constant([[1, 5, 7, 3]])
    full = decoder(ids).numpy()
    cache = decoder.InitCache(1, 4)
    for t in range(4):
        logits, cache = decoder.ExtendStep(ids[:, t], cache, tf.constant(t))
        np.testing.assert_allclose(logits.numpy(), full[:, t], atol=1e-4)


def test_transformer_decoder_ties_embedding_and_softmax():
    tied, untied = _decoder(), _decoder(tie_embedding=False)
    assert "softmax/emb" in " ".join(tied.VariablesByPath())
    assert len(untied.variables) == len(tied.variables) + 1  # own embedding table, own w
    assert tied.embedding is tied.softmax


def test_transformer_gradients_finite_through_encoder_and_decoder():
    encoder, decoder = _encoder(), _decoder()
    x = tf.random.normal((2, 5, 6))
    paddings = tf.constant([[0.0] * 5, [0.0, 0.0, 1.0, 1.0, 1.0]])
    ids = tf.constant([[1, 3, 4], [1, 2, 2]])
    with tf.GradientTape() as tape:
        source = encoder(x, paddings, training=True)
        logits = decoder(ids, source=source, source_paddings=paddings, training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(ids, logits))
    variables = encoder.trainable_variables + decoder.trainable_variables
    grads = tape.gradient(loss, variables)
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)


def test_transformer_params_print_and_round_trip():
    p = TransformerDecoder.Params().Set(vocab_size=13, model_dims=8, num_layers=3)
    p.layer.Set(num_heads=2, residual_dropout=p.layer.residual_dropout.Copy().Set(keep_prob=0.9))
    text = p.ToText()
    assert "layer.residual_dropout.keep_prob : 0.9" in text and "vn.global_vn" in text
    q = TransformerDecoder.Params().FromText(text)
    assert q.ToText() == text
    decoder = q.Instantiate()
    assert len(decoder.layers) == 3
    assert decoder.layers[2].self_dropout.params.keep_prob == 0.9
