"""speech.Asr for a few steps on a few utterances really spoken by espeak-ng: train, evaluate
CER, export with parity, and transcribe a waveform through the SavedModel."""

import json
import shutil

import numpy as np
import pytest
from liveri.train.input import tokenizers
from liveri.train.input.fortunes import fortune_files
from liveri.train.tasks.asr import BLANK_ID, edit_distance

from liveri.artifact import manifest
from liveri.audio import greedy_ctc_text
from tests.conftest import liveri

needs_speech = pytest.mark.skipif(
    not (fortune_files("/usr/share/games/fortunes") and shutil.which("espeak-ng")
         and shutil.which("sox")), reason="needs Debian's fortunes, espeak-ng and sox")

STEPS = 6


def few(data_dir) -> list[str]:
    """--set flags: a few utterances in a private data cache, a small model, a few steps."""
    settings = {"input.data_dir": str(data_dir), "input.num_train_utterances": 16,
                "input.num_dev_utterances": 3, "input.num_test_utterances": 5,
                "model.encoder.num_layers": 1, "train.batch_size": 4,
                "train.max_steps": STEPS, "train.eval_every": STEPS,
                "train.checkpoint_every": STEPS, "train.log_every": 3,
                "export.calibration_examples": 4}
    return [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]


@pytest.fixture(scope="module")
def asr(tmp_path_factory):
    root = tmp_path_factory.mktemp("asr")
    logdir, repo = root / "logs", root / "repo"
    flags = few(root / "data")
    liveri("train", "-e", "speech.Asr", "--logdir", str(logdir), *flags)
    liveri("export", "-e", "speech.Asr", "--logdir", str(logdir), "--model_repo", str(repo),
           "--formats", "tflite_float", *flags)
    return {"logdir": logdir, "repo": repo, "version": repo / "speech_asr" / "1",
            "flags": flags, "data": root / "data"}


def test_edit_distance_counts_insertions_deletions_and_substitutions():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "") == 3
    assert edit_distance("the cat", "the cat") == 0


def test_greedy_ctc_merges_repeats_only_between_blanks():
    table = ["", "", "", "", " ", "h", "e", "l", "o"]
    frames = [5, 5, 6, BLANK_ID, 7, 7, BLANK_ID, 7, 8, 8, 4, BLANK_ID]
    log_probs = np.log(np.full((len(frames), len(table)), 0.01))
    log_probs[np.arange(len(frames)), frames] = 0.0
    assert greedy_ctc_text(log_probs, table) == "hello "


@needs_speech
def test_trains_and_reports_cer_on_the_held_out_voice(asr):
    metrics = json.loads((asr["logdir"] / "metrics.json").read_text())
    assert metrics["step"] == STEPS and metrics["main_metric"] == "cer"
    assert metrics["split"] == "test" and metrics["examples"] == 5
    assert 0.0 <= metrics["cer"] and np.isfinite(metrics["loss"]) and metrics["loss"] > 0
    log = [json.loads(line) for line in (asr["logdir"] / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "dev" in r] == [STEPS]


@needs_speech
def test_export_proves_tflite_and_saved_model_agree_with_the_checkpoint(asr):
    version = asr["version"]
    m = manifest.load(version)
    assert manifest.verify(version) == []
    assert {a.format for a in m.artifacts} == {"saved_model", "tflite_float"}
    assert m.input_kind == "audio" and m.main_metric == "cer"
    assert m.preprocessing["kind"] == "log_mel"
    assert m.preprocessing["log_mel"]["num_mel_bins"] == 80
    assert m.postprocessing["blank_id"] == BLANK_ID and m.vocab_file == "liveri/vocab.txt"
    parity = json.loads((version / "liveri" / "parity.json").read_text())
    for fmt in ("saved_model", "tflite_float"):
        assert m.metrics[fmt]["agreement"] == 1.0, fmt
        assert m.metrics[fmt]["max_abs_score_diff"] < 1e-3, fmt
        assert m.metrics[fmt]["cer"] == pytest.approx(parity["reference_metrics"]["cer"])
    # The numpy CER of the export (numpy log-mels, one padded batch) is the trainer's in-graph
    # CER over the same test utterances (tf.data buckets): padding changes nothing.
    metrics = json.loads((asr["logdir"] / "metrics.json").read_text())
    assert parity["reference_metrics"]["cer"] == pytest.approx(metrics["cer"], abs=1e-6)


@needs_speech
def test_serving_signature_transcribes_a_synthesized_waveform(asr):
    import tensorflow as tf
    from liveri.train.input.speech import SpeechInput

    inp = SpeechInput.Params().Set(data_dir=str(asr["data"]), num_train_utterances=16,
                                   num_dev_utterances=3, num_test_utterances=5).Instantiate()
    waves = inp.Examples("test")["waveform"]
    short, long = sorted(waves[:2], key=len)
    fn = tf.saved_model.load(str(asr["version"])).signatures["serving_default"]
    alone = fn(waveform=tf.constant(short[None]), lengths=tf.constant([len(short)]))
    text = alone["text"].numpy()[0].decode()
    scores = alone["scores"].numpy()[0]
    assert alone["text"].dtype == tf.string and scores.shape[-1] == 32
    assert np.allclose(np.exp(scores).sum(-1), 1.0, atol=1e-4)
    vocab = (asr["version"] / "liveri" / "vocab.txt").read_text().split("\n")[:-1]
    table = ["" if v in tokenizers.SPECIALS else v.replace(tokenizers.SPACE, " ") for v in vocab]
    assert text == greedy_ctc_text(scores, table)
    # Batched with a longer utterance (zero-padded), the short one scores the same.
    batch = np.zeros((2, len(long)), np.float32)
    batch[0, : len(short)], batch[1] = short, long
    together = fn(waveform=tf.constant(batch), lengths=tf.constant([len(short), len(long)]))
    assert together["text"].numpy()[0].decode() == text
    assert np.allclose(together["scores"].numpy()[0, : len(scores)], scores, atol=1e-4)


@needs_speech
@pytest.mark.slow
def test_every_other_format_exports_with_parity(asr):
    liveri("export", "-e", "speech.Asr", "--logdir", str(asr["logdir"]), "--model_repo",
           str(asr["repo"]), "--formats", "tflite_dynamic,tflite_int8,tflite_fp16,onnx",
           *asr["flags"])
    m = manifest.load(asr["repo"] / "speech_asr" / "2")
    assert {a.format for a in m.artifacts} == {
        "saved_model", "tflite_dynamic", "tflite_int8", "tflite_fp16", "onnx"}
    assert m.metrics["onnx"]["agreement"] == 1.0
    assert m.metrics["onnx"]["max_abs_score_diff"] < 1e-3
    for fmt in ("tflite_dynamic", "tflite_int8", "tflite_fp16"):
        assert m.metrics[fmt]["cer"] == pytest.approx(m.metrics["saved_model"]["cer"],
                                                         abs=0.1), fmt
