"""The shared layer interface and the layers the image models use."""

import numpy as np
import pytest
import tensorflow as tf
from liveri.train.layers import Conv2D, Conv2DStack, Dropout, FeedForward, Linear

from liveri.params import Params


def test_layer_params_print_and_round_trip():
    p = FeedForward.Params().Set(input_dims=4, output_dims=4, residual=True)
    text = p.ToText()
    assert "dropout.keep_prob : 1.0" in text
    q = FeedForward.Params().FromText(text)
    assert q.ToText() == text and q.Instantiate().params.residual


def test_linear_layer_shape_dtype_and_values():
    layer = Linear(Linear.Params().Set(input_dims=3, output_dims=5, name="lin"))
    x = tf.random.normal((2, 7, 3))
    y = layer(x)
    assert y.shape == (2, 7, 5) and y.dtype == tf.float32
    expected = np.einsum("bti,io->bto", x.numpy(), layer.w.numpy()) + layer.b.numpy()
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_layer_base_params_flow_to_children_unless_set():
    p = FeedForward.Params().Set(input_dims=4, output_dims=4, random_seed=7, fprop_dtype="float16")
    layer = p.Instantiate()
    child = layer.children["linear"]
    assert child.params.random_seed == 7 and child.params.fprop_dtype == "float16"
    assert layer(tf.ones((2, 4))).dtype == tf.float16
    assert child.w.dtype == tf.float32  # float32 master weights under mixed precision


def test_layer_seed_makes_init_reproducible_and_distinct_per_variable():
    a = Linear(Linear.Params().Set(input_dims=4, output_dims=4, random_seed=3))
    b = Linear(Linear.Params().Set(input_dims=4, output_dims=4, random_seed=3))
    c = Linear(Linear.Params().Set(input_dims=4, output_dims=4, random_seed=4))
    np.testing.assert_array_equal(a.w.numpy(), b.w.numpy())
    assert not np.allclose(a.w.numpy(), c.w.numpy())


def test_layer_variables_are_named_by_path():
    layer = FeedForward.Params().Set(input_dims=2, output_dims=3, name="ff").Instantiate()
    assert sorted(layer.VariablesByPath()) == ["ff/linear/b", "ff/linear/w"]


def test_feedforward_layer_residual_needs_equal_dims():
    with pytest.raises(ValueError, match="residual"):
        FeedForward.Params().Set(input_dims=2, output_dims=3, residual=True).Instantiate()


def test_dropout_layer_only_in_training():
    layer = Dropout(Dropout.Params().Set(keep_prob=0.5))
    x = tf.ones((1000,))
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
    dropped = layer(x, training=True).numpy()
    assert 0.3 < np.mean(dropped == 0) < 0.7


@pytest.mark.parametrize("padding,pooling", [("SAME", "max"), ("VALID", "none"), ("SAME", "avg")])
def test_conv_layer_output_shape_matches_declared(padding, pooling):
    p = Conv2D.Params().Set(filter_shape=(3, 3, 2, 5), filter_stride=(2, 1), padding=padding,
                            pooling=pooling)
    layer = p.Instantiate()
    y = layer(tf.random.normal((2, 9, 8, 2)))
    assert tuple(y.shape[1:]) == layer.OutputShape(9, 8)


def test_conv_stack_layer_gradients_finite():
    stack = Conv2DStack(Conv2DStack.Params().Set(channels=(4, 6), input_channels=1))
    x = tf.random.normal((3, 8, 8, 1))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(stack(x) ** 2)
    grads = tape.gradient(loss, stack.trainable_variables)
    assert len(grads) == 4 and all(np.isfinite(g.numpy()).all() for g in grads)
    assert tuple(stack(x).shape[1:]) == stack.OutputShape(8, 8)


def test_layer_bad_params_name_the_problem():
    with pytest.raises(ValueError, match="padding"):
        Conv2D.Params().Set(padding="FULL").Instantiate()
    with pytest.raises(ValueError, match="params_init"):
        Linear.Params().Set(input_dims=2, output_dims=2, params_init="magic").Instantiate()


def test_layer_runs_under_tf_function():
    layer = Linear(Linear.Params().Set(input_dims=3, output_dims=2))
    x = tf.random.normal((4, 3))
    np.testing.assert_allclose(tf.function(layer.FProp)(x).numpy(), layer(x).numpy(), atol=1e-6)


def test_conv_stack_layer_converts_to_tflite_within_1e4(tmp_path):
    from liveri.runtimes import TfliteModel

    stack = Conv2DStack(Conv2DStack.Params().Set(channels=(4, 8), input_channels=1))
    module = tf.Module()
    module.vars = stack.variables
    module.f = tf.function(stack.FProp, input_signature=[tf.TensorSpec([None, 8, 8, 1])])
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.f})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path))
    model = TfliteModel(converter.convert())
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 1)).astype(np.float32)
    (out,) = model(x=x).values() if "x" in model.inputs else model(
        **{next(iter(model.inputs)): x}).values()
    np.testing.assert_allclose(out, stack(x).numpy(), atol=1e-4)


def test_params_instantiate_requires_cls():
    with pytest.raises(Exception, match="cls"):
        Params().Instantiate()


def test_a_named_activation_goes_through_its_attached_quantizer_and_others_are_refused():
    layer = Linear(Linear.Params().Set(input_dims=3, output_dims=2, name="lin"))
    x = tf.constant([[0.26, -1.0, 2.0]])
    plain = layer(x).numpy()
    layer.activation_quantizers["input"] = lambda t: tf.round(t * 2) / 2  # a coarse quantizer
    rounded = tf.constant([[0.5, -1.0, 2.0]]) @ layer.w + layer.b
    np.testing.assert_allclose(layer(x).numpy(), rounded.numpy(), rtol=1e-6)
    assert not np.allclose(plain, rounded.numpy())
    with pytest.raises(ValueError, match="lin: 'output' is not in Linear.ACTIVATIONS"):
        layer.QAct("output", x)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_dropout_keeps_its_rounded_fraction_and_the_mean(dtype):
    from liveri.train.layers.dropout import KeptFraction

    layer = Dropout(Dropout.Params().Set(keep_prob=0.9))
    dropped = tf.cast(layer(tf.ones((400, 500), dtype), training=True), tf.float32).numpy()
    kept = KeptFraction(0.9)
    assert kept == 230 / 256
    assert np.mean(dropped != 0) == pytest.approx(kept, abs=0.005)
    np.testing.assert_allclose(dropped[dropped != 0], 1 / kept, rtol=1e-2)
    assert np.mean(dropped) == pytest.approx(1.0, abs=0.01)  # expectations unchanged
    again = tf.cast(layer(tf.ones((400, 500), dtype), training=True), tf.float32).numpy()
    assert np.mean((dropped == 0) != (again == 0)) > 0.1  # a fresh mask every call


@pytest.mark.parametrize("keep_prob", [0.0, 1.5])
def test_dropout_refuses_a_keep_prob_outside_0_1(keep_prob):
    with pytest.raises(ValueError, match="keep_prob must be in"):
        Dropout(Dropout.Params().Set(keep_prob=keep_prob))
