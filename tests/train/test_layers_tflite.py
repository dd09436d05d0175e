"""Sequence layers convert to float TFLite with builtin ops only and match TensorFlow."""

import numpy as np
import pytest
import tensorflow as tf
from liveri.train.layers import (
    LstmStack,
    MultiHeadAttention,
    SinusoidalPositionEmbedding,
    TransformerEncoder,
)

from liveri.runtimes import TfliteModel


def _save(layer, fprop, specs, tmp_path):
    """`fprop` (reading `layer`'s variables) as the SavedModel's serving_default, at tmp_path."""
    module = tf.Module()
    module.vars = layer.variables
    module.f = tf.function(fprop, input_signature=specs)
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.f})


def _convert(layer, fprop, specs, tmp_path):
    """SavedModel of `fprop` -> TFLite bytes, refusing select TF ops."""
    _save(layer, fprop, specs, tmp_path)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return TfliteModel(converter.convert())


def _inputs(batch=2, length=6, dims=8):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, length, dims)).astype(np.float32)
    paddings = np.zeros((batch, length), np.float32)
    paddings[0, length - 2:] = 1.0
    return x, paddings


def _specs(dims=8, batch=None):
    return [tf.TensorSpec([batch, None, dims], tf.float32, name="x"),
            tf.TensorSpec([batch, None], tf.float32, name="paddings")]


def test_attention_layer_converts_to_tflite_within_1e4(tmp_path):
    p = MultiHeadAttention.Params().Set(input_dims=8, num_heads=2, causal=True)
    atten = p.Instantiate()
    model = _convert(atten, lambda x, paddings: atten(x, paddings=paddings), _specs(), tmp_path)
    x, paddings = _inputs()
    (out,) = model(x=x, paddings=paddings).values()
    np.testing.assert_allclose(out, atten(x, paddings=paddings).numpy(), atol=1e-4)


def test_transformer_encoder_layer_stack_converts_to_tflite_within_1e4(tmp_path):
    p = TransformerEncoder.Params().Set(input_dims=8, model_dims=16, num_layers=2)
    p.layer.num_heads = 4
    encoder = p.Instantiate()
    model = _convert(encoder, lambda x, paddings: encoder(x, paddings), _specs(), tmp_path)
    x, paddings = _inputs()
    (out,) = model(x=x, paddings=paddings).values()
    np.testing.assert_allclose(out, encoder(x, paddings).numpy(), atol=1e-4)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_stack_layer_converts_to_tflite_within_1e4(tmp_path, bidirectional):
    """The time loop lowers to a TFLite WHILE; its TensorList lowering needs a static batch."""
    stack = LstmStack.Params().Set(input_dims=8, num_units=6, num_layers=2,
                                   bidirectional=bidirectional).Instantiate()
    model = _convert(stack, lambda x, paddings: stack(x, paddings), _specs(batch=2), tmp_path)
    x, paddings = _inputs()
    (out,) = model(x=x, paddings=paddings).values()
    np.testing.assert_allclose(out, stack(x, paddings).numpy(), atol=1e-4)


def test_causal_transformer_stack_quantizes_to_16x8_and_runs_on_litert(tmp_path):
    """TFLite's 16x8 mode (int16 activations) takes the causal mask and the layer norm: the
    converter finds a range for every tensor and LiteRT has a kernel for every op."""
    from liveri.export.tflite import convert

    p = TransformerEncoder.Params().Set(input_dims=8, model_dims=16, num_layers=2)
    p.layer.num_heads = 4
    encoder = p.Instantiate()
    _save(encoder, lambda x, paddings: encoder(x, paddings, causal=True), _specs(), tmp_path)
    rng = np.random.default_rng(1)

    def calibration():  # padded like the inputs below, so paddings' range reaches 1.0
        for _ in range(16):
            yield {"x": rng.normal(size=(2, 6, 8)).astype(np.float32), "paddings": _inputs()[1]}

    content, _ = convert(str(tmp_path), "tflite_int16x8", ["serving_default"], calibration)
    x, paddings = _inputs()
    (out,) = TfliteModel(content)(x=x, paddings=paddings).values()
    expected = encoder(x, paddings, causal=True).numpy()
    assert np.abs(out - expected).max() < 0.02 * np.abs(expected).max()


def test_sinusoids_survive_full_int8_tflite(tmp_path):
    """Full int8 quantizes the tables' values ([-1, 1]), not angles of hundreds of radians."""
    from liveri.export.tflite import convert

    layer = SinusoidalPositionEmbedding.Params().Set(embedding_dim=64).Instantiate()
    _save(layer, lambda positions: {"signal": layer(positions)},
          [tf.TensorSpec([None, None], tf.int32, "positions")], tmp_path)
    positions = np.tile(np.arange(200, dtype=np.int32), (2, 1))

    def calibration():
        yield {"positions": positions}

    content, _ = convert(str(tmp_path), "tflite_int8", ["serving_default"], calibration,
                         float_inputs=False)
    (out,) = TfliteModel(content)(positions=positions).values()
    assert np.abs(out - layer(positions).numpy()).max() < 0.05
