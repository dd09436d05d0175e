"""Quantization-aware export: the task trains on 8-bit weights, and the int8 artifact it gives
stands beside the post-training one in the manifest and the parity report."""

import json

import numpy as np

from liveri import layout
from liveri.artifact import formats, manifest
from tests.conftest import liveri


def test_wrapped_task_computes_with_symmetric_8_bit_weights():
    import tensorflow as tf
    from liveri.export import qat
    from liveri.train import registry
    from liveri.train.layers.conv import Conv2D
    from liveri.train.layers.keras_qat import QuantizedLayers

    params = registry.get("image.Digits")().Params()
    task, inp = params.model.Instantiate(), params.input.Instantiate()
    wrapper = qat.wrap(task)
    batch = next(iter(inp.Dataset("train", 16, training=True)))
    losses = qat.fine_tune(wrapper, iter([batch] * 5), 5, 1e-3)
    assert len(losses) == 5 and losses[-1] < losses[0]
    scores = wrapper({"features": {"features": tf.zeros([2, 8, 8, 1])}}, training=False)
    assert scores["scores"].shape == (2, 10)
    layers = QuantizedLayers(task)
    assert len(layers) == 4  # two convolutions, the hidden layer, the logits
    ranges = {w.name.split("/")[-1]: w.numpy() for w in wrapper.weights}
    for inner in layers:
        variable = inner._variables["w"].numpy()
        used = inner.w.numpy()  # what the last call computed with
        # The range the quantizer last saw: a convolution has one per output channel, a
        # matmul one for the whole tensor. Symmetric 8 bits: 127 steps either side of zero.
        top = np.atleast_1d(ranges[inner.path.replace("/", ".") + ".w_max:0"])
        assert np.allclose(ranges[inner.path.replace("/", ".") + ".w_min:0"], -top)
        columns = used.reshape(-1, used.shape[-1]).T if isinstance(inner, Conv2D) else [used]
        assert len(top) == len(columns), inner.path
        for column, limit in zip(columns, top):
            steps = column / (limit / 127)
            assert np.allclose(steps, np.round(steps), atol=1e-3), inner.path
            assert np.abs(steps).max() <= 127 + 1e-3, inner.path
        assert not np.array_equal(variable, used), inner.path


def test_qat_export_lists_both_int8_artifacts_with_their_metric(digits_logdir, tmp_path):
    liveri("export", "-e", "image.Digits", "--logdir", str(digits_logdir), "--model_repo",
           str(tmp_path), "--formats", "tflite_int8", "--set", "export.qat_steps=40")
    version_dir = tmp_path / "image_digits" / "1"
    m = manifest.load(version_dir)
    assert manifest.verify(version_dir) == []
    entries = {a.format: a for a in m.artifacts}
    assert set(entries) == {"saved_model", "tflite_int8", "tflite_int8_qat"}
    qat_entry = entries["tflite_int8_qat"]
    assert qat_entry.path == formats.get("tflite_int8_qat").file
    assert qat_entry.notes["fully_int8"] is True and qat_entry.notes["qat"]["steps"] == 40
    assert [s.dtype for s in qat_entry.inputs + qat_entry.outputs] == ["int8", "int8"]
    assert qat_entry.sha256 != entries["tflite_int8"].sha256
    assert m.export_seconds["tflite_int8_qat"] > 0
    parity = json.loads((version_dir / layout.PARITY_FILE).read_text())
    compared = parity["int8_quantization"]
    assert compared["metric"] == "accuracy" and compared["qat_steps"] == 40
    assert compared["quantization_aware"] == parity["artifacts"]["tflite_int8_qat"]["accuracy"]
    assert compared["post_training"] == parity["artifacts"]["tflite_int8"]["accuracy"]
    assert compared["quantization_aware"] >= 0.95
    assert compared["quantization_aware"] >= compared["post_training"] - 0.01


def test_qat_format_needs_steps(digits_logdir, tmp_path):
    base = ("export", "-e", "image.Digits", "--logdir", str(digits_logdir), "--model_repo",
            str(tmp_path))
    r = liveri(*base, "--formats", "tflite_int8_qat", check=False)
    assert r.returncode == 2 and "export.qat_steps" in r.stderr
    r = liveri(*base, "--set", "export.qat_steps=-3", check=False)
    assert r.returncode == 2 and "export.qat_steps" in r.stderr and ">= 0" in r.stderr
    assert not (tmp_path / "image_digits").exists() or not layout.versions(
        tmp_path / "image_digits")


def test_qat_steps_add_the_format_and_it_is_converted_last():
    from liveri.export.exporter import parse_formats
    default = list(formats.DEFAULT)
    assert parse_formats(None, default, 0) == default
    assert parse_formats(None, default, 7) == [*default, "tflite_int8_qat"]
    assert parse_formats("tflite_int8_qat,onnx", [], 7) == ["saved_model", "onnx",
                                                            "tflite_int8_qat"]


def test_activation_ranges_start_from_data_train_and_are_what_the_int8_artifact_uses(tmp_path):
    from ai_edge_litert.interpreter import Interpreter
    from liveri.export import qat, tflite
    from liveri.train import registry

    params = registry.get("image.Digits")().Params()
    task, inp = params.model.Instantiate(), params.input.Instantiate()
    wrapper = qat.wrap(task, activations=True)
    ranges = wrapper.layer.activations.ranges
    batches = iter(inp.Dataset("train", 16, training=True))
    # Every Linear and Conv2D input of the classifier is seen (2 convolutions, 2 matmuls).
    assert qat.calibrate_activations(wrapper, batches, 2) == 4
    pixels = ranges["digits/conv/conv_0/input"]  # features are pixels / 16: 0..1
    assert float(pixels["min_var"]) == 0.0 and 0.9 <= float(pixels["max_var"]) <= 1.0
    hidden = ranges["digits/hidden/linear/input"]
    before = float(hidden["max_var"])
    qat.fine_tune(wrapper, batches, 5, 1e-3)
    # tfmot's moving average moves a calibrated range a little each step; it never was +-6.
    assert 0 < abs(float(hidden["max_var"]) - before) < 0.05 * before

    pixels["max_var"].assign(2.0)  # a range no calibration would give: the artifact must use it
    export_dir = str(tmp_path / "qat")
    features_fn = task.ExportSignatures(inp)["features"]
    qat.save_features(wrapper, features_fn, export_dir)
    examples = [next(batches)["pixels"][:1] for _ in range(4)]
    content, notes = tflite.convert(export_dir, "tflite_int8", ["features"], lambda: (
        {"features": task.Preprocess(p).numpy()} for p in examples), float_inputs=True)
    assert notes["fully_int8"] is True
    interpreter = Interpreter(model_content=content)
    first_conv = next(op for op in interpreter._get_ops_details() if op["op_name"] == "CONV_2D")
    scale, zero_point = interpreter.get_tensor_details()[first_conv["inputs"][0]]["quantization"]
    assert np.isclose(scale, 2.0 / 255, rtol=1e-3) and zero_point == -128


def test_a_transformer_with_fake_quantized_activations_converts_to_full_int8(tmp_path):
    # A layer norm's output is every projection's input: quantized once, or the converter
    # refuses the model (two ranges on one tensor across a reshape).
    from liveri.export import qat, tflite
    from liveri.train import registry

    params = registry.get("text.TransformerLm")().Params()
    params.model.decoder.Set(model_dims=32, num_layers=1)
    params.model.decoder.layer.hidden_dims = 64
    task, inp = params.model.Instantiate(), params.input.Instantiate()
    wrapper = qat.wrap(task, activations=True)
    batches = iter(inp.Dataset("train", 8, training=True))
    seen = qat.calibrate_activations(wrapper, batches, 1)
    # The embedded sum; 5 steps of each of 2 layer norms and the final one; query, key, value,
    # probs; the inputs of the attention's output projection and of the feed-forward's second
    # matmul (the relu's output); 2 residual sums. Projections reading a layer norm reuse its.
    assert seen == 1 + 3 * 5 + 4 + 2 + 2
    qat.fine_tune(wrapper, batches, 2, 1e-3)
    features_fn = task.ExportSignatures(inp)["features"]
    qat.save_features(wrapper, features_fn, str(tmp_path / "qat"))
    requests = [{s.name: np.ones([1, 12], s.dtype.as_numpy_dtype) for s in
                 features_fn.input_signature}]
    content, notes = tflite.convert(str(tmp_path / "qat"), "tflite_int8", ["features"],
                                    lambda: iter(requests), float_inputs=False)
    assert notes["fully_int8"] is True and len(content) > 0
