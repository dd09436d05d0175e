"""Audio pre- and post-processing in numpy: log-mel features in, CTC greedy transcripts out.

A speech model computes log-mels in its graph (`liveri.train.input.log_mel.log_mel_tf`), so its
SavedModel takes raw waveforms; a device without TensorFlow computes them here: `log_mel_numpy`
re-implements `tf.signal.stft` (periodic Hann window, no end padding) and
`linear_to_mel_weight_matrix` (HTK mel scale) in float64, and agrees with the graph within
`TOLERANCE` (absolute, in log units). `LogMelConfig.spec`/`from_spec` are how the settings travel
in a manifest or `bundle.json`, so the device computes what the model was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from liveri.tokenization import PAD_ID, SPACE, SPECIALS

TOLERANCE = 1e-3
WINDOW = "periodic hann"
MEL_SCALE = "htk"


@dataclass(frozen=True)
class LogMelConfig:
    """What defines the features: a model trained on one config needs the same at inference."""

    sample_rate: int = 16000
    frame_length: int = 400  # 25 ms
    frame_step: int = 160  # 10 ms
    fft_length: int = 512
    num_mel_bins: int = 80
    lower_edge_hz: float = 80.0
    upper_edge_hz: float = 7600.0
    floor: float = 1e-5

    @property
    def num_spectrogram_bins(self) -> int:
        return self.fft_length // 2 + 1

    def num_frames(self, num_samples: int) -> int:
        return max(0, 1 + (num_samples - self.frame_length) // self.frame_step)

    def spec(self) -> dict[str, Any]:
        """The `log_mel` section of a preprocessing spec (the sample rate goes in `raw_input`)."""
        return {"frame_length": self.frame_length, "frame_step": self.frame_step,
                "fft_length": self.fft_length, "window": WINDOW,
                "magnitude": "abs(rfft), no end padding", "num_mel_bins": self.num_mel_bins,
                "mel_scale": MEL_SCALE, "lower_edge_hz": self.lower_edge_hz,
                "upper_edge_hz": self.upper_edge_hz, "log_offset": self.floor}

    @classmethod
    def from_spec(cls, preprocessing: dict[str, Any]) -> LogMelConfig:
        """The config a "log_mel" preprocessing spec states; ValueError naming what is off."""
        try:
            mel = preprocessing["log_mel"]
            sample_rate = preprocessing["raw_input"]["sample_rate"]
            for key, implemented in (("window", WINDOW), ("mel_scale", MEL_SCALE)):
                if mel.get(key, implemented) != implemented:
                    raise ValueError(f"log_mel.{key}: {mel[key]!r} is not implemented (expected "
                                     f"{implemented!r})")
            return cls(sample_rate=int(sample_rate), frame_length=int(mel["frame_length"]),
                       frame_step=int(mel["frame_step"]), fft_length=int(mel["fft_length"]),
                       num_mel_bins=int(mel["num_mel_bins"]),
                       lower_edge_hz=float(mel["lower_edge_hz"]),
                       upper_edge_hz=float(mel["upper_edge_hz"]), floor=float(mel["log_offset"]))
        except KeyError as e:
            raise ValueError(f"log_mel preprocessing spec: missing {e}") from None


def log_mel_numpy(waveform: np.ndarray, config: LogMelConfig = LogMelConfig()) -> np.ndarray:
    """The graph's log-mels of one waveform [N] without TensorFlow: float32 [frames, mel]."""
    x = np.asarray(waveform, dtype=np.float64)
    count = config.num_frames(x.shape[-1])
    starts = np.arange(count)[:, None] * config.frame_step
    frames = x[starts + np.arange(config.frame_length)[None, :]]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(config.frame_length) / config.frame_length)
    magnitudes = np.abs(np.fft.rfft(frames * window, n=config.fft_length))
    mel = magnitudes @ mel_weight_matrix(config)
    return np.log(mel + config.floor).astype(np.float32)


def mel_weight_matrix(config: LogMelConfig = LogMelConfig()) -> np.ndarray:
    """[num_spectrogram_bins, num_mel_bins] triangles on the HTK mel scale, as TF builds them."""

    def hz_to_mel(hz: Any) -> Any:
        return 1127.0 * np.log1p(np.asarray(hz, np.float64) / 700.0)

    hz = np.linspace(0.0, config.sample_rate / 2.0, config.num_spectrogram_bins)[1:]
    mel = hz_to_mel(hz)[:, None]
    edges = np.linspace(hz_to_mel(config.lower_edge_hz), hz_to_mel(config.upper_edge_hz),
                        config.num_mel_bins + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    weights = np.maximum(0.0, np.minimum((mel - lower) / (center - lower),
                                         (upper - mel) / (upper - center)))
    return np.pad(weights, [[1, 0], [0, 0]])


def log_mel_batch(waveforms: Sequence[np.ndarray],
                  config: LogMelConfig) -> tuple[np.ndarray, np.ndarray]:
    """Waveforms -> (log-mels float32 [N, T, mel] zero-padded to the longest, paddings float32
    [N, T] with 1.0 on padded frames): what a speech model's `features` signature takes."""
    mels = [log_mel_numpy(w, config) for w in waveforms]
    longest = max([1] + [len(m) for m in mels])
    features = np.zeros((len(mels), longest, config.num_mel_bins), np.float32)
    paddings = np.ones((len(mels), longest), np.float32)
    for i, m in enumerate(mels):
        features[i, : len(m)] = m
        paddings[i, : len(m)] = 0.0
    return features, paddings


def decoding_table(vocab: Sequence[str]) -> list[str]:
    """The text of each class id: specials (the blank among them) spell nothing, `▁` a space."""
    return ["" if token in SPECIALS else token.replace(SPACE, " ") for token in vocab]


def greedy_ctc_ids(log_probs: np.ndarray, blank_id: int = PAD_ID) -> np.ndarray:
    """Best class per frame [T, C], repeats merged, blanks dropped: the label ids."""
    best = np.argmax(log_probs, axis=-1)
    keep = np.append(True, best[1:] != best[:-1]) & (best != blank_id)
    return best[keep]


def greedy_ctc_text(log_probs: np.ndarray, table: Sequence[str], blank_id: int = PAD_ID) -> str:
    """Greedy CTC decoding of frames [T, C] as text, each id spelled by `table`."""
    return "".join(table[i] for i in greedy_ctc_ids(log_probs, blank_id))
