"""Speech bundles transcribe as the server does: the same waveform gives the same transcript
through `Bundle.predict` (log-mels in numpy, LiteRT, in a process without TensorFlow) as through
the SavedModel's `serving_default` (log-mels in the graph).

speech.Asr is trained small and briefly on a few utterances espeak-ng speaks into a private cache,
then exported once per module (slow: about 3 min on 2 cores).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from liveri.mobile import Bundle
from liveri.mobile.bundler import make_bundle
from liveri.train.input.fortunes import fortune_files

from liveri.audio import TOLERANCE, LogMelConfig
from tests.conftest import liveri
from tests.mobile.helpers import answers_without_tensorflow

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (fortune_files("/usr/share/games/fortunes") and shutil.which("espeak-ng")
         and shutil.which("sox")), reason="needs Debian's fortunes, espeak-ng and sox")]

MODEL = "speech_asr"
FORMATS = ("tflite_float", "tflite_int8")
STEPS = 200
# Pinned so the test does not follow the experiment's defaults while they are tuned: a small
# model, no augmentation, enough steps that it spells characters (test CER about 0.8, not 1.0).
SETTINGS = {"input.num_train_utterances": 64, "input.num_dev_utterances": 4,
            "input.num_test_utterances": 12, "model.encoder.num_layers": 1,
            "model.model_dims": 64, "model.encoder.layer.num_heads": 2,
            "model.encoder.layer.hidden_dims": 128,
            "model.conv_filter_shapes": "[(3, 3, 1, 16), (3, 3, 16, 16)]",
            "model.conv_filter_strides": "[(2, 2), (2, 2)]", "model.freq_mask_bins": 0,
            "model.freq_shift_bins": 0, "model.time_mask_frames": 0, "train.batch_size": 8,
            "train.max_steps": STEPS, "train.learning_rate": 3e-3, "train.lr_schedule": "cosine",
            "train.warmup_steps": 20, "train.eval_every": STEPS, "train.checkpoint_every": STEPS,
            "export.calibration_examples": 8}
# Full int8 against float: the test CER may move by at most this much (measured: 0.016 here,
# 0.002 on the 2500-step model over 100 utterances).
INT8_CER_TOLERANCE = 0.06

# Run in a fresh process, as a device would: LiteRT and numpy, TensorFlow never imported.
_TRANSCRIBE_WITHOUT_TENSORFLOW = """
import json, sys
import numpy as np
from liveri.mobile import Bundle

bundle = Bundle(sys.argv[1])
waves = np.load(sys.argv[2])
answers = [bundle.predict(waves[f"w{i}"]) for i in range(len(waves.files))]
print(json.dumps({"answers": answers, "tensorflow_loaded": sorted(
    m for m in sys.modules if m.split(".")[0] == "tensorflow" or m.startswith("liveri.train"))}))
"""


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("speech")
    logdir, repo = root / "logs", root / "models"
    sets = [a for key, value in {"input.data_dir": root / "data", **SETTINGS}.items()
            for a in ("--set", f"{key}={value}")]
    liveri("train", "-e", "speech.Asr", "--logdir", str(logdir), *sets)
    liveri("export", "-e", "speech.Asr", "--logdir", str(logdir), "--model_repo", str(repo),
           "--formats", ",".join(FORMATS), *sets)
    bundles = root / "bundles"
    return {"logdir": logdir, "repo": repo, **{
        fmt: make_bundle(repo, MODEL, fmt=fmt, out=bundles / f"{fmt}.zip") for fmt in FORMATS}}


@pytest.fixture(scope="module")
def utterances(speech) -> dict[str, Any]:
    """The test split: a voice and sentences the model never heard."""
    from liveri.train.run_dir import load_params

    inp = load_params(speech["logdir"], "speech.Asr").input.Instantiate()
    examples = inp.Examples("test")
    return {"waveforms": list(examples["waveform"]), "text": [str(t) for t in examples["text"]],
            "config": inp.FeatureConfig()}


@pytest.fixture(scope="module")
def served(speech, utterances) -> list[dict[str, Any]]:
    """`serving_default`'s transcript and scores of each waveform, one request each."""
    import tensorflow as tf

    serve = tf.saved_model.load(str(speech["repo"] / MODEL / "1")).signatures["serving_default"]
    answers = []
    for w in utterances["waveforms"]:
        out = serve(waveform=tf.constant(w[None]), lengths=tf.constant([len(w)]))
        answers.append({"text": out["text"].numpy()[0].decode(),
                        "scores": out["scores"].numpy()[0]})
    return answers


def _on_device(bundle: Path, waveforms: list[np.ndarray], tmp_path: Path) -> list[dict[str, Any]]:
    np.savez(tmp_path / "waves.npz", **{f"w{i}": w for i, w in enumerate(waveforms)})
    return answers_without_tensorflow(_TRANSCRIBE_WITHOUT_TENSORFLOW, bundle, tmp_path / "waves.npz")


def _cer(hypotheses: list[str], truths: list[str]) -> float:
    from liveri.train.tasks.asr import edit_distance

    edits = sum(edit_distance(h, t) for h, t in zip(hypotheses, truths, strict=True))
    return edits / sum(len(t) for t in truths)


def _write_wav(path: Path, samples: np.ndarray, rate: int = 16000, channels: int = 1,
               width: int = 2) -> Path:
    pcm = np.round(np.asarray(samples) * 32768).clip(-32768, 32767).astype("<i2")
    if width == 1:
        pcm = (pcm // 256 + 128).astype(np.uint8)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(np.repeat(pcm, channels).tobytes())
    return path


def test_float_bundle_transcribes_as_serving_default(speech, utterances, served,
                                                     tmp_path: Path) -> None:
    answers = _on_device(speech["tflite_float"], utterances["waveforms"], tmp_path)
    assert [a["text"] for a in answers] == [s["text"] for s in served]
    for answer, s in zip(answers, served, strict=True):
        assert np.abs(np.array(answer["scores"]) - s["scores"]).max() < 1e-3
    # Not vacuous: the briefly trained model spells something, better than saying nothing.
    assert sum(bool(a["text"].strip()) for a in answers) >= len(answers) // 2
    assert _cer([a["text"] for a in answers], utterances["text"]) < 0.95


def test_int8_bundle_cer_is_close_to_serving_default(speech, utterances, served,
                                                     tmp_path: Path) -> None:
    answers = _on_device(speech["tflite_int8"], utterances["waveforms"], tmp_path)
    int8_cer = _cer([a["text"] for a in answers], utterances["text"])
    served_cer = _cer([s["text"] for s in served], utterances["text"])
    assert abs(int8_cer - served_cer) <= INT8_CER_TOLERANCE, (int8_cer, served_cer)
    assert all(len(a["scores"]) == len(s["scores"]) for a, s in zip(answers, served,
                                                                     strict=True))


def test_numpy_features_match_the_graph_within_the_tolerance(speech, utterances) -> None:
    from liveri.train.input.log_mel import log_mel_tf

    bundle = Bundle(speech["tflite_int8"])
    assert LogMelConfig.from_spec(bundle.spec["preprocessing"]) == utterances["config"]
    for w in utterances["waveforms"]:
        on_device = bundle.kind.encode([w]).features["features"][0]
        in_graph = log_mel_tf(w, utterances["config"]).numpy()
        assert on_device.shape == in_graph.shape
        np.testing.assert_allclose(on_device, in_graph, rtol=0, atol=TOLERANCE)


def test_bundle_json_states_the_audio_processing(speech) -> None:
    bundle = Bundle(speech["tflite_int8"])
    spec = bundle.spec
    assert bundle.input_kind == "audio"
    assert spec["preprocessing"]["kind"] == "log_mel"
    assert spec["preprocessing"]["raw_input"]["sample_rate"] == 16000
    assert spec["preprocessing"]["log_mel"] == LogMelConfig().spec()
    post = spec["postprocessing"]
    assert post["kind"] == "ctc_greedy" and post["blank_id"] == 0 and post["time_stride"] == 4
    assert post["vocab_file"] == spec["vocab_file"] == "vocab.txt"
    assert "vocab.txt" in {f["path"] for f in spec["files"]}
    assert {t["name"]: t["dtype"] for t in spec["inputs"]} == {"features": "int8",
                                                               "paddings": "int8"}
    assert bundle.vocab == (speech["repo"] / MODEL / "1" / "liveri" / "vocab.txt").read_text(
        ).split("\n")[:-1]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "liveri.mobile", "run", *args],
                          capture_output=True, text=True, timeout=120)


def test_wav_cli_prints_the_transcript_as_json(speech, utterances, served,
                                               tmp_path: Path) -> None:
    w = utterances["waveforms"][0]
    result = run(str(speech["tflite_float"]), "--wav", str(_write_wav(tmp_path / "a.wav", w)))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["text"] == served[0]["text"]
    assert answer == Bundle(speech["tflite_float"]).predict(w)


def test_wav_the_model_does_not_take_exits_2_saying_what_it_expects(speech, utterances,
                                                                    tmp_path: Path) -> None:
    bundle = str(speech["tflite_int8"])
    w = utterances["waveforms"][0]
    for name, kwargs in (("8k", {"rate": 8000}), ("stereo", {"channels": 2}),
                         ("8bit", {"width": 1})):
        result = run(bundle, "--wav", str(_write_wav(tmp_path / f"{name}.wav", w, **kwargs)))
        assert result.returncode == 2, name
        assert "the model expects mono 16-bit PCM at 16000 Hz" in result.stderr, result.stderr
        assert result.stdout == ""
    result = run(bundle, "--wav", str(_write_wav(tmp_path / "short.wav", w[:100])))
    assert result.returncode == 2
    assert "100 samples is shorter than one frame (400 samples at 16000 Hz)" in result.stderr
    result = run(bundle, "--text", "hello")
    assert result.returncode == 2
    assert "this bundle takes audio input: pass --wav FILE.wav" in result.stderr


def test_benchmark_runs_each_tflite_variant_at_1_and_2_threads(speech, served) -> None:
    """`liveri bench` times the bundled variants on LiteRT from the version's warmup requests
    (raw waveforms), with the log-mels a device computes."""
    from liveri.benchmarks.inputs import tile_batch, warmup_examples
    from liveri.benchmarks.runners import artifact_runners

    from liveri.artifact import manifest

    version = speech["repo"] / MODEL / "1"
    skipped: dict[str, str] = {}
    runners = {r.key: r for r in artifact_runners(version, manifest.load(version), skipped)}
    assert skipped == {}
    assert {f"{fmt}/{t}t" for fmt in FORMATS for t in (1, 2)} <= set(runners)
    examples = tile_batch(warmup_examples(version), 2)
    # LiteRT's batch is as wide as its longest utterance: the SavedModel is given that width too
    # (wider padding moves the last frame's scores through the convolutions' bias).
    longest = int(max(examples["lengths"]))
    examples["waveform"] = examples["waveform"][:, :longest]
    reference = runners["saved_model"].bind(examples)()["scores"].numpy()
    frames = -(-LogMelConfig().num_frames(longest) // 4)
    for fmt in FORMATS:
        for threads in (1, 2):
            scores = runners[f"{fmt}/{threads}t"].bind(examples)()["scores"]
            assert scores.shape == (2, frames, reference.shape[-1])
            if fmt == "tflite_float":
                np.testing.assert_allclose(scores, reference[:, :frames], atol=1e-3)
