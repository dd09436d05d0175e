"""The text reference experiments, for a few steps each: train, evaluate, export, answer."""

import json

import numpy as np
import pytest

from liveri import layout
from liveri.artifact import formats, manifest
from tests.conftest import liveri


@pytest.fixture(scope="module")
def punctuator(tmp_path_factory):
    root = tmp_path_factory.mktemp("punct")
    logdir, repo = root / "logs", root / "repo"
    liveri("train", "-e", "text.Punctuator", "--logdir", str(logdir), "--set",
           "train.max_steps=40", "--set", "train.eval_every=40", "--set", "train.log_every=20")
    liveri("export", "-e", "text.Punctuator", "--logdir", str(logdir), "--model_repo",
           str(repo), "--set", "export.parity_examples=64")
    return logdir, repo / "text_punctuator" / "1"


def test_punctuator_trains_and_reports_f1(punctuator):
    logdir, _ = punctuator
    metrics = json.loads((logdir / "metrics.json").read_text())
    assert metrics["step"] == 40 and metrics["main_metric"] == "f1"
    assert 0.0 <= metrics["f1"] <= 1.0 and metrics["examples"] > 1000


def test_punctuator_exports_every_format_with_parity(punctuator):
    _, version = punctuator
    m = manifest.load(version)
    assert {a.format for a in m.artifacts} == set(formats.DEFAULT)
    assert manifest.verify(version) == []
    assert m.vocab_file == "liveri/vocab.txt"
    for fmt in ("saved_model", "tflite_float", "onnx"):
        assert m.metrics[fmt]["agreement"] == 1.0, fmt


@pytest.mark.slow
def test_punctuator_exports_quantization_aware_int8(punctuator, tmp_path):
    logdir, _ = punctuator
    liveri("export", "-e", "text.Punctuator", "--logdir", str(logdir), "--model_repo",
           str(tmp_path), "--formats", "tflite_int8", "--set", "export.qat_steps=5", "--set",
           "export.parity_examples=64")
    version = tmp_path / "text_punctuator" / "1"
    qat = manifest.load(version).artifact("tflite_int8_qat")
    assert qat.notes["fully_int8"] is True and qat.notes["qat"]["steps"] == 5
    compared = json.loads((version / layout.PARITY_FILE).read_text())["int8_quantization"]
    assert compared["metric"] == "f1" and 0.0 <= compared["quantization_aware"] <= 1.0


def test_punctuator_serving_signature_answers_punctuated_text(punctuator):
    import tensorflow as tf

    _, version = punctuator
    fn = tf.saved_model.load(str(version)).signatures["serving_default"]
    out = fn(text=tf.constant(["Hello, World how are you", "it is fine"]))
    texts = [t.decode() for t in out["text"].numpy()]
    assert [t.replace(",", "").replace(".", "").replace("?", "") for t in texts] == [
        "hello world how are you", "it is fine"]
    assert out["scores"].shape[0] == 2 and out["scores"].shape[-1] == 4
    assert np.allclose(out["scores"].numpy()[0].sum(-1)[:5], 1.0, atol=1e-4)
    empty = fn(text=tf.constant(["", "!!!"]))
    assert [t.decode() for t in empty["text"].numpy()] == ["", ""]


def test_transformer_lm_trains_exports_and_scores_text(tmp_path):
    import tensorflow as tf

    logdir, repo = tmp_path / "logs", tmp_path / "repo"
    liveri("train", "-e", "text.TransformerLm", "--logdir", str(logdir), "--set",
           "train.max_steps=30", "--set", "train.eval_every=30", "--set", "train.log_every=10")
    metrics = json.loads((logdir / "metrics.json").read_text())
    assert metrics["perplexity"] > 1.0 and metrics["unigram_perplexity"] > 1.0
    assert metrics["perplexity_ratio"] == pytest.approx(
        metrics["perplexity"] / metrics["unigram_perplexity"])
    liveri("export", "-e", "text.TransformerLm", "--logdir", str(logdir), "--model_repo",
           str(repo), "--formats", "tflite_float,onnx", "--set", "export.parity_examples=32")
    version = repo / "text_transformerlm" / "1"
    m = manifest.load(version)
    assert m.metrics["tflite_float"]["agreement"] >= 0.95
    fn = tf.saved_model.load(str(version)).signatures["serving_default"]
    out = fn(text=tf.constant(["The cat sat.", "zzqx qqq zzz", ""]))
    assert out["perplexity"].shape == (3,) and np.all(out["perplexity"].numpy() > 1.0)
    assert out["next_token"].shape == (3,)


def test_punctuator_lm_multitask_trains_both_heads_and_exports_the_punctuator(tmp_path):
    import tensorflow as tf

    logdir, repo = tmp_path / "logs", tmp_path / "repo"
    liveri("train", "-e", "text.PunctuatorLmMultiTask", "--logdir", str(logdir), "--set",
           "train.max_steps=30", "--set", "train.eval_every=30", "--set", "train.log_every=10")
    metrics = json.loads((logdir / "metrics.json").read_text())
    assert metrics["main_metric"] == "f1" and 0.0 <= metrics["f1"] <= 1.0
    assert metrics["lm_perplexity"] == pytest.approx(np.exp(metrics["lm_loss"]))
    # A word token spans several characters: per character the LM is far less perplexed.
    assert 1.0 < metrics["lm_char_perplexity"] < metrics["lm_perplexity"]
    liveri("export", "-e", "text.PunctuatorLmMultiTask", "--logdir", str(logdir),
           "--model_repo", str(repo), "--formats", "saved_model", "--set",
           "export.parity_examples=32")
    version = repo / "text_punctuatorlmmultitask" / "1"
    assert manifest.verify(version) == []
    fn = tf.saved_model.load(str(version)).signatures["serving_default"]
    out = fn(text=tf.constant(["hello world how are you"]))
    answer = out["text"].numpy()[0].decode()
    assert answer.replace(",", "").replace(".", "").replace("?", "") == "hello world how are you"
