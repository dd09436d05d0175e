"""Log-mel features of 16 kHz audio in the TF graph, so a SavedModel takes raw waveforms.

The settings (`LogMelConfig`) and the numpy twin a device runs (`log_mel_numpy`, within
`TOLERANCE` of this) live in the core package, `liveri.audio`, which needs no TensorFlow.
"""

from __future__ import annotations

from typing import Any

from liveri.audio import LogMelConfig
from liveri.lazy import tf


def log_mel_tf(waveforms: Any, config: LogMelConfig) -> Any:
    """float32 [..., N] samples in [-1, 1] -> float32 [..., frames, num_mel_bins]."""
    stft = tf.signal.stft(tf.convert_to_tensor(waveforms, tf.float32), config.frame_length,
                          config.frame_step, config.fft_length)
    weights = tf.signal.linear_to_mel_weight_matrix(
        config.num_mel_bins, config.num_spectrogram_bins, config.sample_rate,
        config.lower_edge_hz, config.upper_edge_hz)
    return tf.math.log(tf.tensordot(tf.abs(stft), weights, 1) + config.floor)
