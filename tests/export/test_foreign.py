"""`export_foreign`: models trained elsewhere as versions of the model repository, with real
TensorFlow, LiteRT, tf2onnx and onnxruntime: a Keras functional image model, a SavedModel with
several signatures, TF Serving's TF1 half_plus_two and a model with string inputs."""

import json

import numpy as np
import pytest
from liveri.export.foreign import export_foreign, match_names

from liveri import layout
from liveri.artifact import manifest
from liveri.errors import UsageError
from tests.export import foreign_models

ALL = ["saved_model", "tflite_float", "tflite_dynamic", "tflite_int8", "tflite_fp16", "onnx"]
CONVERTED = ALL[1:]
BUDGETS = {"latency_p99_ms": 20.0}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """The four models as they arrive, and examples files for two of them."""
    root = tmp_path_factory.mktemp("sources")
    found = {
        "keras": foreign_models.keras_image_model(root / "image.keras"),
        "multi": foreign_models.multi_signature_model(root / "multi"),
        "half_plus_two": foreign_models.half_plus_two(root / "half_plus_two"),
        "strings": foreign_models.string_model(root / "strings"),
        "strings_npz": root / "strings.npz",
        "half_plus_two_npz": root / "half_plus_two.npz",
    }
    np.savez(found["strings_npz"], **foreign_models.string_examples())
    # One unnamed array (stored as arr_0) for the one-input model.
    np.savez(found["half_plus_two_npz"], np.linspace(-4, 4, 16).reshape(16, 1))
    return found


@pytest.fixture(scope="module")
def versions(sources, tmp_path_factory):
    """Each model exported once with every format into one repository: {model: version dir}."""
    repo = tmp_path_factory.mktemp("repo")
    runs = {
        "keras": dict(keras=sources["keras"], saved_model=None, examples=None),
        "multi": dict(saved_model=sources["multi"], keras=None, examples=None),
        "half_plus_two": dict(saved_model=sources["half_plus_two"], keras=None,
                              examples=sources["half_plus_two_npz"]),
        "strings": dict(saved_model=sources["strings"], keras=None,
                        examples=sources["strings_npz"]),
    }
    return {model: export_foreign(model_repo=repo, name=model, formats=ALL, budgets=BUDGETS,
                                  **kwargs)
            for model, kwargs in runs.items()}


def warmup_requests(version_dir):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    requests = []
    for record in tf.data.TFRecordDataset(str(version_dir / layout.WARMUP_FILE)):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        requests.append(log.predict_log.request)
    return requests


@pytest.mark.parametrize("model", ["keras", "multi", "half_plus_two", "strings"])
def test_version_layout_checksums_and_parity(versions, model):
    version_dir = versions[model]
    assert version_dir.name == "1"
    for rel in ("saved_model.pb", "variables/variables.index", layout.WARMUP_FILE,
                layout.MANIFEST_FILE, layout.PARITY_FILE):
        assert (version_dir / rel).is_file(), rel
    assert not list(version_dir.parent.glob(layout.TEMP_PREFIX + "*"))
    assert manifest.verify(version_dir) == []
    m = manifest.load(version_dir)  # the typed reader accepts it
    raw = json.loads((version_dir / layout.MANIFEST_FILE).read_text())
    assert raw["experiment"] is None and raw["params_hash"] is None and raw["checkpoint"] is None
    assert raw["main_metric"] == "agreement" and raw["higher_is_better"] is True
    assert raw["input_kind"] == "tensors" and raw["preprocessing"]["kind"] == "tensors"
    assert raw["postprocessing"] == {"kind": "tensors"}
    assert list(raw["preprocessing"]["inputs"]) == [i.name for i in m.artifacts[0].inputs]
    assert raw["budgets"] == BUDGETS and raw["gate"] == {"verdict": "pending"}
    assert raw["origin"]["kind"] == ("keras" if model == "keras" else "saved_model")
    assert m.formats[0] == "saved_model"
    parity = json.loads((version_dir / layout.PARITY_FILE).read_text())
    assert set(parity["artifacts"]) == set(m.formats)
    for a in m.artifacts:
        path = version_dir / a.path
        assert a.sha256 == manifest.sha256_file(path) and a.bytes == path.stat().st_size
        assert a.inputs and a.outputs and a.signature == "serving_default"
        assert 0.0 <= a.metrics["agreement"] <= 1.0, a.format
        assert a.metrics["max_abs_error"] >= 0 and a.metrics["max_rel_error"] >= 0
        assert a.metrics["examples"] == parity["examples"] > 0
        assert set(a.metrics["outputs"]) == {o.name for o in m.artifacts[0].outputs}
        assert raw["metrics"][a.format] == a.metrics
    assert m.metrics["saved_model"]["agreement"] == 1.0
    for fmt in ("tflite_float", "onnx"):
        if fmt in m.formats:
            assert m.metrics[fmt]["agreement"] == 1.0, fmt
            assert m.metrics[fmt]["max_abs_error"] < 1e-5, fmt


@pytest.mark.parametrize("model", ["keras", "multi", "half_plus_two"])
def test_numeric_models_convert_to_every_format(versions, model):
    m = manifest.load(versions[model])
    assert m.formats == ALL and m.skipped == []
    for fmt in CONVERTED:
        assert (versions[model] / m.artifact(fmt).path).is_file()
    assert m.artifact("tflite_int8").notes["fully_int8"] is True
    assert m.artifact("tflite_int8").inputs[0].dtype == "int8"
    # Artifacts are fed by the signature's names everywhere, so they must carry them.
    for fmt in CONVERTED:
        assert ({t.name for t in m.artifact(fmt).inputs}
                == {t.name for t in m.artifact("saved_model").inputs}), fmt


def test_string_model_keeps_the_saved_model_and_says_why_the_rest_did_not_convert(versions):
    m = manifest.load(versions["strings"])
    assert m.formats == ["saved_model"]
    reasons = {s.format: s.reason for s in m.skipped}
    assert list(reasons) == CONVERTED
    for fmt in ("tflite_float", "tflite_dynamic", "tflite_int8", "tflite_fp16"):
        # TFLite builtins have no string ops; the converter names them.
        assert "TF Select" in reasons[fmt] and "StringToHashBucketFast" in reasons[fmt], fmt
    # tf2onnx writes a graph that keeps TF's string ops; the ONNX checker refuses it.
    assert "String" in reasons["onnx"]
    assert not list((versions["strings"] / layout.LIVERI_DIR).glob("model*"))
    raw = json.loads((versions["strings"] / layout.MANIFEST_FILE).read_text())
    assert raw["skipped"][0]["format"] == "tflite_float" and raw["skipped"][0]["reason"]
    parity = json.loads((versions["strings"] / layout.PARITY_FILE).read_text())
    assert set(parity["skipped"]) == set(CONVERTED) and parity["examples"] == 6


@pytest.mark.parametrize("model,inputs", [("keras", {"image"}), ("multi", {"features"}),
                                          ("half_plus_two", {"x"}),
                                          ("strings", {"text", "bias"})])
def test_warmup_requests_are_batch_1_predicts_the_saved_model_answers(versions, model, inputs):
    import tensorflow as tf

    requests = warmup_requests(versions[model])
    assert len(requests) == 4
    fn = tf.saved_model.load(str(versions[model])).signatures["serving_default"]
    for request in requests:
        assert request.model_spec.name == model
        assert request.model_spec.signature_name == "serving_default"
        assert set(request.inputs) == inputs
        feed = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        assert all(v.shape[0] == 1 for v in feed.values())
        fn(**feed)


def test_half_plus_two_tf1_model_answers_in_every_runtime(versions):
    import tensorflow as tf

    from liveri.runtimes import OnnxModel, TfliteModel

    version_dir = versions["half_plus_two"]
    x = np.array([[-2.0], [0.0], [3.0]], np.float32)
    fn = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    np.testing.assert_allclose(fn(x=tf.constant(x))["y"].numpy(), 0.5 * x + 2)
    m = manifest.load(version_dir)
    np.testing.assert_allclose(TfliteModel(version_dir / m.artifact("tflite_float").path)(x=x)["y"],
                               0.5 * x + 2)
    np.testing.assert_allclose(OnnxModel(version_dir / m.artifact("onnx").path)(x=x)["y"],
                               0.5 * x + 2)
    assert m.origin["examples"].endswith("half_plus_two.npz")
    assert m.metrics["tflite_float"]["examples"] == 16  # the file's one unnamed array
    assert m.metrics["tflite_float"]["outputs"]["y"]["kind"] == "values"
    # Full int8 of y = 0.5x + 2 is off by a quantization step: its agreement says so.
    assert m.metrics["tflite_int8"]["max_abs_error"] > 1e-3
    assert m.metrics["tflite_int8"]["agreement"] < 1.0


def test_multi_signature_model_lists_its_signatures_and_scores_per_output(versions):
    m = manifest.load(versions["multi"])
    sm = m.artifact("saved_model")
    assert sm.notes["signatures"] == ["embed", "scale", "serving_default"]
    assert [o.name for o in sm.outputs] == ["scores", "total"]
    outputs = m.metrics["tflite_float"]["outputs"]
    assert outputs["scores"]["kind"] == "class_scores" and outputs["total"]["kind"] == "values"
    assert m.origin["examples"] == "generated" and m.metrics["onnx"]["examples"] == 8


def test_keras_model_becomes_a_saved_model_equal_to_the_keras_model(versions):
    m = manifest.load(versions["keras"])
    sm = m.artifact("saved_model")
    assert [i.name for i in sm.inputs] == ["image"]
    assert sm.inputs[0].shape == [None, *foreign_models.IMAGE_SHAPE]
    assert m.metrics["saved_model"]["compared_with"] == "keras model (eager)"
    assert m.metrics["saved_model"]["max_abs_error"] < 1e-5
    assert m.metrics["tflite_float"]["outputs"]["output_0"]["kind"] == "class_scores"
    assert m.preprocessing["inputs"] == {
        "image": {"dtype": "float32", "shape": [None, *foreign_models.IMAGE_SHAPE]}}


def test_another_signature_with_integer_inputs(sources, tmp_path):
    version_dir = export_foreign(saved_model=sources["multi"], keras=None, model_repo=tmp_path,
                                 name="scale", formats=["tflite_float", "tflite_int8"],
                                 examples=None, budgets={}, signature="scale")
    m = manifest.load(version_dir)
    assert m.formats == ["saved_model", "tflite_float", "tflite_int8"]
    assert {i.name: i.dtype for i in m.artifact("saved_model").inputs} == {
        "count": "int64", "value": "float32"}
    assert m.metrics["tflite_float"]["agreement"] == 1.0
    assert m.artifact("tflite_float").signature == "scale"
    requests = warmup_requests(version_dir)
    assert {r.model_spec.signature_name for r in requests} == {"scale"}


def test_a_tf_keras_file_loads_through_tf_keras(tmp_path):
    source = foreign_models.tf_keras_model(tmp_path / "legacy.keras")
    version_dir = export_foreign(keras=source, saved_model=None, model_repo=tmp_path / "repo",
                                 name="legacy", formats=["tflite_float"], examples=None,
                                 budgets={})
    m = manifest.load(version_dir)
    assert m.formats == ["saved_model", "tflite_float"]
    assert [i.name for i in m.artifact("saved_model").inputs] == ["features"]
    assert m.metrics["saved_model"]["compared_with"] == "keras model (eager)"
    assert m.metrics["saved_model"]["max_abs_error"] < 1e-5
    assert m.metrics["tflite_float"]["agreement"] == 1.0


def test_names_are_matched_by_name_then_by_order():
    assert match_names(["a", "b"], ["b", "a"]) == ({"a": "a", "b": "b"}, "by name")
    assert match_names(["x", "b"], ["b", "serving_x:0"]) == (
        {"b": "b", "x": "serving_x:0"}, "by name, 1 by order")
    assert match_names(["x"], ["y"]) == ({"x": "y"}, "by order")
    with pytest.raises(ValueError, match="it has 2 tensors"):
        match_names(["x"], ["y", "z"])


def test_second_export_is_version_2_and_qat_is_skipped(sources, versions):
    repo = versions["half_plus_two"].parent.parent
    version_dir = export_foreign(saved_model=sources["half_plus_two"], keras=None, model_repo=repo,
                                 name="half_plus_two", formats=["tflite_float", "tflite_int8_qat"],
                                 examples=None, budgets={})
    assert version_dir == repo / "half_plus_two" / "2"
    m = manifest.load(version_dir)
    assert m.formats == ["saved_model", "tflite_float"]
    assert [s.format for s in m.skipped] == ["tflite_int8_qat"]
    assert "quantization-aware" in m.skipped[0].reason


def test_the_artifact_backend_serves_a_foreign_version(versions):
    from liveri.serve.artifacts import load_artifact

    version_dir = str(versions["half_plus_two"])
    servable = load_artifact("half_plus_two", 1, version_dir, "tflite")
    out = servable.signatures["serving_default"].run({"x": np.array([[4.0]], np.float32)})
    np.testing.assert_allclose(out["y"], [[4.0]])


# --- bad input --------------------------------------------------------------------------------


def _export(tmp_path, **kwargs):
    args = dict(saved_model=None, keras=None, model_repo=tmp_path / "repo", name="m",
                formats=["tflite_float"], examples=None, budgets={})
    return export_foreign(**{**args, **kwargs})


def _npz(tmp_path, **arrays):
    path = tmp_path / "examples.npz"
    np.savez(path, **arrays)
    return path


def test_a_folder_without_saved_model_pb_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=r"--saved_model .*empty: no saved_model\.pb"):
        _export(tmp_path, saved_model=tmp_path / "empty")
    with pytest.raises(UsageError, match=r"--saved_model .*nowhere: not a directory"):
        _export(tmp_path, saved_model=tmp_path / "nowhere")
    assert not (tmp_path / "repo" / "m").exists()


def test_a_model_folder_of_versions_is_refused_with_a_hint(tmp_path, versions):
    with pytest.raises(UsageError, match=r"holds numbered versions; pass one of them"):
        _export(tmp_path, saved_model=versions["multi"].parent)


def test_a_keras_file_that_does_not_load_is_refused(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(UsageError, match=r"--keras .*bad\.keras: not a Keras model file that "
                                         r"loads; expected a \.keras file"):
        _export(tmp_path, keras=bad)
    with pytest.raises(UsageError, match=r"--keras .*missing\.keras: no such file"):
        _export(tmp_path, keras=tmp_path / "missing.keras")
    assert not (tmp_path / "repo" / "m").exists()


def test_examples_with_wrong_names_are_refused(sources, tmp_path):
    examples = foreign_models.string_examples()
    path = _npz(tmp_path, words=examples["text"], bias=examples["bias"])
    with pytest.raises(UsageError) as e:
        _export(tmp_path, saved_model=sources["strings"], examples=path)
    message = str(e.value)
    assert "takes inputs bias (float32 [None, 3]), text (string [None])" in message
    assert "missing text" in message and "unexpected words" in message
    assert not (tmp_path / "repo" / "m").exists()


def test_examples_of_the_wrong_dtype_are_refused(sources, tmp_path):
    path = _npz(tmp_path, text=np.zeros(6), bias=np.zeros((6, 3)))
    with pytest.raises(UsageError, match=r"input 'text' expects string \[None\]; got float64 "
                                         r"array of shape \[6\]"):
        _export(tmp_path, saved_model=sources["strings"], examples=path)
    path = _npz(tmp_path, value=np.zeros(4), count=np.full(4, 0.5))
    with pytest.raises(UsageError, match=r"input 'count' expects int64 \[None\]; got float64 "
                                         r"array of shape \[4\] \(expected integers\)"):
        _export(tmp_path, saved_model=sources["multi"], examples=path, signature="scale")


def test_examples_of_the_wrong_shape_are_refused(sources, tmp_path):
    path = _npz(tmp_path, x=np.zeros((8, 2), np.float32))
    with pytest.raises(UsageError, match=r"input 'x' expects float32 \[None, 1\]; got float32 "
                                         r"array of shape \[8, 2\]"):
        _export(tmp_path, saved_model=sources["half_plus_two"], examples=path)
    path = _npz(tmp_path, text=np.array(["a", "b"]), bias=np.zeros((3, 3)))
    with pytest.raises(UsageError, match=r"same number of examples"):
        _export(tmp_path, saved_model=sources["strings"], examples=path)


def test_examples_that_are_not_a_plain_npz_are_refused(sources, tmp_path):
    text = tmp_path / "examples.txt"
    text.write_text("1,2,3\n")
    with pytest.raises(UsageError, match=r"examples\.txt: neither a \.npz .* nor a request log"):
        _export(tmp_path, saved_model=sources["half_plus_two"], examples=text)
    objects = _npz(tmp_path, text=np.array([b"a", "b"], dtype=object), bias=np.zeros((2, 3)))
    with pytest.raises(UsageError, match=r"object array, which only loads through pickle"):
        _export(tmp_path, saved_model=sources["strings"], examples=objects)
    npy = tmp_path / "x.npy"  # one unnamed array also comes as .npy
    np.save(npy, np.zeros((3, 1), np.float32))
    version_dir = _export(tmp_path, saved_model=sources["half_plus_two"], examples=npy)
    assert manifest.load(version_dir).metrics["tflite_float"]["examples"] == 3


def test_string_inputs_need_examples(sources, tmp_path):
    with pytest.raises(UsageError, match=r"string input 'text'.*expected --examples FILE\.npz"):
        _export(tmp_path, saved_model=sources["strings"])


def test_unknown_signature_format_and_source_are_refused(sources, tmp_path):
    with pytest.raises(UsageError, match=r"--signature nope: .* has no signature 'nope'; it has: "
                                         r"embed, scale, serving_default"):
        _export(tmp_path, saved_model=sources["multi"], signature="nope")
    with pytest.raises(UsageError, match=r"--formats: unknown format 'tflite_int4'"):
        _export(tmp_path, saved_model=sources["multi"], formats=["tflite_int4"])
    with pytest.raises(UsageError, match=r"exactly one of --saved_model DIR or --keras FILE"):
        _export(tmp_path)
    with pytest.raises(UsageError, match=r"--examples .*none\.npz: no such file"):
        _export(tmp_path, saved_model=sources["multi"], examples=tmp_path / "none.npz")
    assert not (tmp_path / "repo" / "m").exists()


def test_a_request_log_serves_as_the_examples(sources, tmp_path):
    """A request log (PredictionLog TFRecords, as `logging_config` writes) calibrates, proves
    parity and warms up a model trained elsewhere, like an .npz."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    log = tmp_path / "requests-000000.tfrecord"
    with tf.io.TFRecordWriter(str(log)) as writer:
        for start in (-4.0, 0.0, 3.0):  # three logged requests of two rows each
            entry = prediction_log_pb2.PredictionLog()
            entry.predict_log.request.inputs["x"].CopyFrom(
                tf.make_tensor_proto(np.array([[start], [start + 0.5]], np.float32)))
            writer.write(entry.SerializeToString())
    version = _export(tmp_path, saved_model=sources["half_plus_two"], examples=log,
                      formats=["tflite_int8"])
    parity = json.loads((version / layout.PARITY_FILE).read_text())
    assert parity["examples"] == 6 and parity["examples_from"] == str(log.resolve())
    assert parity["artifacts"]["tflite_int8"]["agreement"] > 0.9
