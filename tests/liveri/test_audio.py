"""Audio processing in numpy (what a device runs): log-mels, their spec, greedy CTC decoding."""

from __future__ import annotations

import numpy as np
import pytest

from liveri.artifact import kinds
from liveri.artifact.kinds import Encoded, InputError, KindError
from liveri.audio import (
    LogMelConfig,
    decoding_table,
    greedy_ctc_ids,
    greedy_ctc_text,
    log_mel_batch,
    log_mel_numpy,
    mel_weight_matrix,
)

CONFIG = LogMelConfig()
SPEC = {"kind": "log_mel", "raw_input": {"name": "waveform", "sample_rate": 16000},
        "log_mel": CONFIG.spec()}
VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "\u2581", "a", "b"]


def _speech(vocab: list[str]) -> kinds.Kind:
    """The speech-to-text kind over `vocab`: log-mels by SPEC, CTC with 4x time stride."""
    post = {"kind": "ctc_greedy", "blank_id": 0, "time_stride": 4, "scores_output": "scores"}
    return kinds.load(SPEC, post, {"vocab_file": "".join(t + "\n" for t in vocab).encode()})


def tone(hz: float, seconds: float = 0.5, rate: int = 16000) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * hz * np.arange(int(seconds * rate)) / rate)).astype(
        np.float32)


def test_spec_round_trips_and_refuses_what_is_not_implemented() -> None:
    other = LogMelConfig(sample_rate=8000, frame_length=200, frame_step=80, fft_length=256,
                         num_mel_bins=40, upper_edge_hz=3800.0)
    spec = {"raw_input": {"sample_rate": 8000}, "log_mel": other.spec()}
    assert LogMelConfig.from_spec(spec) == other
    with pytest.raises(ValueError, match="log_mel.window: 'hamming' is not implemented"):
        LogMelConfig.from_spec({**spec, "log_mel": {**other.spec(), "window": "hamming"}})
    with pytest.raises(ValueError, match="missing 'fft_length'"):
        LogMelConfig.from_spec({**spec, "log_mel": {k: v for k, v in other.spec().items()
                                                    if k != "fft_length"}})


def test_a_tone_peaks_in_the_mel_bin_of_its_frequency() -> None:
    mel = log_mel_numpy(tone(1000.0))
    assert mel.shape == (CONFIG.num_frames(8000), 80) and mel.dtype == np.float32
    weights = mel_weight_matrix()
    bin_hz = np.linspace(0, 8000, CONFIG.num_spectrogram_bins)
    centers = bin_hz[np.argmax(weights, axis=0)]
    peak = np.argmax(mel[len(mel) // 2])
    assert abs(centers[peak] - 1000.0) <= 100.0, centers[peak]
    # Silence sits at the floor.
    assert np.allclose(log_mel_numpy(np.zeros(800)), np.log(CONFIG.floor))


def test_batch_pads_with_zeros_and_marks_padded_frames() -> None:
    short, long = tone(500.0, 0.1), tone(500.0, 0.3)
    features, paddings = log_mel_batch([long, short], CONFIG)
    n_short, n_long = CONFIG.num_frames(len(short)), CONFIG.num_frames(len(long))
    assert features.shape == (2, n_long, 80) and paddings.shape == (2, n_long)
    assert paddings[1].tolist() == [0.0] * n_short + [1.0] * (n_long - n_short)
    np.testing.assert_array_equal(features[1, :n_short], log_mel_numpy(short))
    assert not features[1, n_short:].any()


def test_greedy_ctc_merges_repeats_only_between_blanks() -> None:
    vocab = ["<pad>", "<s>", "</s>", "<unk>", "\u2581", "h", "e", "l", "o"]
    table = decoding_table(vocab)
    assert table[:5] == ["", "", "", "", " "]
    frames = [5, 5, 6, 0, 7, 7, 0, 7, 8, 8, 4, 0]
    log_probs = np.log(np.full((len(frames), len(vocab)), 0.01))
    log_probs[np.arange(len(frames)), frames] = 0.0
    assert greedy_ctc_ids(log_probs).tolist() == [5, 6, 7, 7, 8, 4]
    assert greedy_ctc_text(log_probs, table) == "hello "
    assert greedy_ctc_text(log_probs[:0], table) == ""


@pytest.mark.parametrize("waveform, message", [
    (np.zeros(800, np.int16), "expected float samples in [-1, 1] (16-bit PCM / 32768), got "
                              "dtype int16"),
    (np.zeros((800, 2), np.float32), "expected one mono channel, shape [samples], got shape "
                                     "[800, 2]"),
    (np.zeros(399, np.float32), "399 samples is shorter than one frame (400 samples at "
                                "16000 Hz)"),
    (np.full(800, 300.0, np.float32), "expected finite samples in [-1, 1], got values up to "
                                      "300.0"),
])
def test_speech_kind_names_what_is_wrong_with_a_waveform(waveform: np.ndarray, message: str) -> None:
    with pytest.raises(InputError) as refused:
        _speech(VOCAB).encode([waveform])
    assert str(refused.value) == f"waveform: {message}"


def test_speech_kind_decodes_only_the_real_frames() -> None:
    vocab = VOCAB
    # Input frames: 9 real, 3 padded -> ceil(9 / 4) = 3 real output frames of 3.
    paddings = np.array([[0.0] * 9 + [1.0] * 3, [0.0] * 4 + [1.0] * 8], np.float32)
    scores = np.log(np.full((2, 3, len(vocab)), 0.01))
    scores[0, [0, 1, 2], [5, 0, 6]] = 0.0
    scores[1, [0, 1, 2], [6, 5, 5]] = 0.0  # frames 1 and 2 are padding: not read
    answers = _speech(vocab).decode(Encoded({"paddings": paddings}, 2), {"scores": scores})
    assert [a["text"] for a in answers] == ["ab", "b"]
    assert [len(a["scores"]) for a in answers] == [3, 1]
    assert answers[1]["scores"][0] == scores[1, 0].tolist()
    with pytest.raises(KindError, match="the model scores 7 classes but the vocab has 6"):
        _speech(vocab[:-1]).decode(Encoded({"paddings": paddings}, 2), {"scores": scores})
