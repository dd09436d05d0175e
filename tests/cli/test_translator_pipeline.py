"""text.Translator from the command line, tiny: train, eval (BLEU and chrF for beam and greedy
beside the baselines), export (the corpus fingerprint in the manifest, parity of the SavedModel
and of TFLite step models), the server translating raw strings over gRPC Predict and REST,
refusing bad messages and still serving, and the mobile runner translating with LiteRT only."""

import json

import grpc
import numpy as np
import pytest
import tensorflow as tf
from liveri.serve.server import ModelServer
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from liveri.artifact import manifest
from tests.conftest import liveri
from tests.serve.test_rest import call
from tests.train.test_translator import TINY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("mt")
    sets = [x for s in TINY + [f"input.data_dir={root / 'data'}", "train.max_steps=30",
                               "train.eval_every=30", "train.checkpoint_every=30"]
            for x in ("--set", s)]
    liveri("train", "-e", "text.Translator", "--logdir", str(root / "logs"), *sets)
    return root


def test_eval_reports_bleu_chrf_of_beam_and_greedy_beside_the_baselines(trained):
    out = liveri("eval", "-e", "text.Translator", "--logdir", str(trained / "logs"))
    metrics = json.loads(out.stdout.strip().splitlines()[-1])
    assert metrics["main_metric"] == "bleu" and metrics["examples"] == 1413
    for name in ("bleu", "chrf", "placeholders_kept"):
        assert 0 <= metrics[name] <= 100 and 0 <= metrics[f"{name}_greedy"] <= 100
    # The baselines depend on the data only: copying scores what it always scores here.
    assert metrics["bleu_memory"] == pytest.approx(5.0, abs=1.5)
    assert metrics["bleu_copy"] == pytest.approx(16.8, abs=1.5)


@pytest.fixture(scope="module")
def repo(trained):
    repo = trained / "repo"
    liveri("export", "-e", "text.Translator", "--logdir", str(trained / "logs"),
           "--model_repo", str(repo), "--set", "export.parity_examples=40",
           "--formats", "saved_model,tflite_float,tflite_int8,onnx")
    return repo


def test_export_carries_the_corpus_fingerprint_and_parity(repo):
    version = repo / "text_translator" / "1"
    found = manifest.load(version)
    corpus = found.preprocessing["corpus"]
    assert corpus["packages"]["tar"] != "not installed" and len(corpus["sha256"]) == 64
    assert found.postprocessing["kind"] == "translation"
    parity = json.loads((version / "liveri" / "parity.json").read_text())
    assert parity["artifacts"]["saved_model"]["agreement"] == 1.0
    assert found.artifact("tflite_int8").notes["fully_int8"] is True
    for fmt in ("tflite_float", "tflite_int8"):
        assert found.artifact(fmt).signature == "encode+decode_step"
        assert found.artifact(fmt).notes["select_tf_ops"] is False
    # Float LiteRT and ONNX translate as the SavedModel does (ties aside).
    assert parity["artifacts"]["tflite_float"]["agreement"] >= 0.95
    assert found.artifact("onnx").signature == "features"
    assert parity["artifacts"]["onnx"]["agreement"] >= 0.95


def test_mobile_runner_translates_as_serving_default(repo, tmp_path):
    import subprocess
    import sys

    liveri("bundle", "--model_repo", str(repo), "--name", "text_translator", "--format",
           "tflite_float", "--out", str(tmp_path / "mt.zip"))
    texts = ["file not found", "%s: cannot open %s"]
    served = tf.saved_model.load(str(repo / "text_translator" / "1")).signatures[
        "serving_default"](text=tf.constant(texts))["translation"].numpy()
    for text, expected in zip(texts, served):
        run = subprocess.run([sys.executable, "-m", "liveri.mobile", "run", str(tmp_path / "mt.zip"),
                              "--text", text], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-2000:]
        assert json.loads(run.stdout)["translation"] == expected.decode()
    bad = subprocess.run([sys.executable, "-m", "liveri.mobile", "run", str(tmp_path / "mt.zip"),
                          "--text", "   "], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "text[0]: empty" in bad.stderr


def test_server_translates_strings_and_refuses_bad_messages(repo):
    with ModelServer(model_repo=str(repo), port=0, rest_api_port=0, metrics_port=0) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

            def predict(texts: list[bytes]):
                request = predict_pb2.PredictRequest()
                request.model_spec.name = "text_translator"
                request.inputs["text"].CopyFrom(tf.make_tensor_proto(texts, tf.string))
                return stub.Predict(request, timeout=60)

            answer = predict([b"file not found", b"%s: cannot open %s"])
            translations = tf.make_ndarray(answer.outputs["translation"])
            assert translations.shape == (2,) and answer.outputs["scores"].dtype == tf.float32
            for bad, said in ((b"  ", "must have a character"), (b"\xff\xfe", "UTF-8"),
                              (b"word " * 200, "at most 127")):
                with pytest.raises(grpc.RpcError) as error:
                    predict([bad])
                assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert "text" in error.value.details() and said in error.value.details()
            again = tf.make_ndarray(predict([b"file not found"]).outputs["translation"])
            assert again[0] == translations[0]

        status, body = call(server, "/v1/models/text_translator:predict",
                            {"instances": ["file not found"]})
        assert status == 200 and body["predictions"][0]["translation"] == \
            translations[0].decode()
        status, body = call(server, "/v1/models/text_translator:predict",
                            {"instances": [""]})
        assert status == 400 and "text" in body["error"]
        assert np.isfinite(call(server, "/v1/models/text_translator:predict",
                                {"instances": ["memory exhausted"]})[1]["predictions"][0]
                           ["scores"])


def test_bench_times_every_artifact_at_beam_4_and_1_with_tokens_per_second(repo, tmp_path):
    liveri("bench", "--model_repo", str(repo), "--name", "text_translator", "--quick",
           "--no_server", "--out", str(tmp_path / "bench"))
    bench = json.loads((tmp_path / "bench" / "bench.json").read_text())
    rows = {(r["key"], r["batch_size"]): r for r in bench["artifacts"]}
    for key in ("saved_model/beam4", "saved_model/beam1", "tflite_float/1t/beam4",
                "tflite_int8/1t/beam1", "onnx/beam4", "onnx/beam1"):
        row = rows[(key, 1)]
        assert row["beam"] == int(key[-1]) and row["p99_ms"] >= row["p50_ms"] > 0
        assert row["tokens_per_call"] >= 1 and row["tokens_per_s"] > 0
    assert ("saved_model/beam4", 32) not in rows  # a decoder's batches stop at 8
    assert not bench["skipped"]


def test_batching_server_answers_concurrent_messages_as_one_at_a_time(repo):
    """Dynamic batching joins concurrent requests into one decode; each message still stops at
    its own limit, so every answer is the one it gets alone."""
    from concurrent.futures import ThreadPoolExecutor

    texts = [b"file not found", b"%s: cannot open %s", b"memory exhausted",
             b"Usage: %s [OPTION]... FILE", b"invalid option -- '%c'", b"done"]
    alone = tf.saved_model.load(str(repo / "text_translator" / "1")).signatures[
        "serving_default"]
    expected = [alone(text=tf.constant([t]))["translation"].numpy()[0] for t in texts]
    with ModelServer(model_repo=str(repo), port=0, rest_api_port=0, metrics_port=0,
                     enable_batching=True) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

            def predict(text: bytes) -> bytes:
                request = predict_pb2.PredictRequest()
                request.model_spec.name = "text_translator"
                request.inputs["text"].CopyFrom(tf.make_tensor_proto([text], tf.string))
                answer = stub.Predict(request, timeout=60)
                return tf.make_ndarray(answer.outputs["translation"])[0]

            with ThreadPoolExecutor(len(texts)) as pool:
                assert list(pool.map(predict, texts * 2)) == expected * 2
