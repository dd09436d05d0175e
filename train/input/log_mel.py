"""Log-mel features of 16 kHz audio, in the TF graph and in numpy with the same numbers.

The speech model computes features in its graph (`log_mel_tf`), so a SavedModel takes raw
waveforms; a device without TensorFlow computes them with `log_mel_numpy`, which re-implements
`tf.signal.stft` (periodic Hann window, no end padding) and `linear_to_mel_weight_matrix` (HTK
mel scale) in float64. The two agree within `TOLERANCE` (absolute, in log units).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from liveri.lazy import tf

TOLERANCE = 1e-3


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


def log_mel_tf(waveforms: Any, config: LogMelConfig = LogMelConfig()) -> Any:
    """float32 [..., N] samples in [-1, 1] -> float32 [..., frames, num_mel_bins]."""
    stft = tf.signal.stft(tf.convert_to_tensor(waveforms, tf.float32), config.frame_length,
                          config.frame_step, config.fft_length)
    weights = tf.signal.linear_to_mel_weight_matrix(
        config.num_mel_bins, config.num_spectrogram_bins, config.sample_rate,
        config.lower_edge_hz, config.upper_edge_hz)
    return tf.math.log(tf.tensordot(tf.abs(stft), weights, 1) + config.floor)


def log_mel_numpy(waveform: np.ndarray, config: LogMelConfig = LogMelConfig()) -> np.ndarray:
    """`log_mel_tf` for one waveform [N] without TensorFlow: float32 [frames, num_mel_bins]."""
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
