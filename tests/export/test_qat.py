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
