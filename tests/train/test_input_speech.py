"""Speech data: a few utterances really synthesized by espeak-ng and sox into a temporary cache."""

import hashlib
import os
import shutil
import wave

import numpy as np
import pytest
from liveri.train.input.fortunes import fortune_files
from liveri.train.input.log_mel import log_mel_tf
from liveri.train.input.speech import SpeechInput

from liveri.audio import TOLERANCE, LogMelConfig, log_mel_numpy
from liveri.errors import UsageError

pytestmark = pytest.mark.skipif(
    not (fortune_files("/usr/share/games/fortunes") and shutil.which("espeak-ng")
         and shutil.which("sox")), reason="needs Debian's fortunes, espeak-ng and sox")

FEW = {"train": 6, "dev": 2, "test": 3}
FEW_PARAMS = {f"num_{split}_utterances": count for split, count in FEW.items()}


def speech(data_dir, **overrides) -> SpeechInput:
    p = SpeechInput.Params()
    p.Set(**{"data_dir": str(data_dir), **FEW_PARAMS, **overrides})
    return p.Instantiate()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def digests(speech_dir):
    return {str(f.relative_to(speech_dir)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(speech_dir.rglob("*.wav"))}


def test_utterances_are_16khz_mono_and_test_voice_is_held_out(data_dir):
    inp = speech(data_dir)
    speech_dir = inp.SpeechDir()
    for split, count in FEW.items():
        rows = (speech_dir / f"{split}.tsv").read_text().splitlines()[1:]
        assert len(rows) == count
        for row in rows:
            wav, transcript, voice = row.split("\t")[:3]
            with wave.open(str(speech_dir / wav)) as f:
                assert (f.getframerate(), f.getnchannels(), f.getsampwidth()) == (16000, 1, 2)
                assert f.getnframes() > 16000 * 0.5
            assert transcript == transcript.lower() and "." not in transcript
            if split == "test":
                assert voice in inp.params.eval_voices and voice not in inp.params.train_voices
    waveform = inp.Examples("test")["waveform"][0]
    assert waveform.dtype == np.float32 and 0.01 < np.abs(waveform).max() <= 1.0


def test_built_once_and_deterministic(data_dir, tmp_path):
    speech_dir = speech(data_dir).SpeechDir()
    stamp = {f: os.stat(f).st_mtime_ns for f in speech_dir.rglob("*")}
    assert speech(data_dir).SpeechDir() == speech_dir
    assert {f: os.stat(f).st_mtime_ns for f in speech_dir.rglob("*")} == stamp
    rebuilt = speech(tmp_path, num_train_utterances=2, num_dev_utterances=0,
                     num_test_utterances=1).SpeechDir()
    again = digests(rebuilt)
    assert again and all(digests(speech_dir)[name] == sha for name, sha in again.items())


def test_batches_hold_features_and_character_targets(data_dir):
    inp = speech(data_dir, deterministic=True)
    tok = inp.Tokenizer()
    examples = inp.Examples("test")
    texts, frames_seen = [], []
    config = inp.FeatureConfig()
    for batch in inp.Dataset("test", 2, training=False):
        frames = batch["src_features"].shape[1]
        assert frames in inp.Boundaries() and batch["src_features"].shape[2] == 80
        real = (1.0 - batch["src_paddings"].numpy()).sum(axis=1).astype(int)
        assert (real <= frames).all()
        frames_seen += real.tolist()
        texts += [tok.decode(row) for row in batch["transcript_ids"].numpy()]
        assert (batch["tgt_labels"].numpy() == 2).sum() == len(real)  # one </s> per example
    assert sorted(texts) == sorted(examples["text"])
    assert sorted(frames_seen) == sorted(config.num_frames(len(w)) for w in examples["waveform"])


def test_numpy_log_mel_matches_the_graph(data_dir):
    config = LogMelConfig()
    for waveform in speech(data_dir).Examples("test")["waveform"]:
        in_graph = log_mel_tf(waveform, config).numpy()
        in_numpy = log_mel_numpy(waveform, config)
        assert in_numpy.shape == in_graph.shape == (config.num_frames(len(waveform)), 80)
        np.testing.assert_allclose(in_numpy, in_graph, rtol=0, atol=TOLERANCE)


def test_missing_espeak_names_the_package(tmp_path, monkeypatch):
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    monkeypatch.setenv("PATH", str(empty_path))
    with pytest.raises(UsageError, match="apt-get install -y espeak-ng sox"):
        speech(tmp_path / "data").SpeechDir()
