"""Raw input from the runner's command line: an .npy array, a string, or a .wav file's samples."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
from liveri.mobile.bundle import InputError


def read_npy(path: str | Path) -> np.ndarray | dict[str, np.ndarray]:
    """An array saved with `numpy.save`, or the named arrays of a `numpy.savez` file (pickles
    refused: the file may come from anywhere)."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                return {name: loaded[name] for name in loaded.files}
        return loaded
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; expected a .npy array (numpy.save)") from None
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable .npy array ({e}); expected a file "
                         f"written by numpy.save") from None


def read_wav(path: str | Path, sample_rate: int | None = None) -> np.ndarray:
    """Mono 16-bit PCM samples as float32 in [-1, 1], what audio models take as raw input; a
    file at another rate than `sample_rate` (when given) is refused, not resampled."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, frames = w.getnchannels(), w.getsampwidth(), w.getnframes()
            rate = w.getframerate()
            data = w.readframes(frames)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; expected a .wav file") from None
    except (wave.Error, EOFError) as e:
        raise InputError(f"{path}: not a readable .wav file ({e})") from None
    wanted = "mono 16-bit PCM" + (f" at {sample_rate} Hz" if sample_rate else "")
    if channels != 1 or width != 2 or (sample_rate and rate != sample_rate):
        raise InputError(f"{path}: {channels} channel(s) of {8 * width}-bit samples at {rate} "
                         f"Hz; the model expects {wanted} (convert it, e.g. `sox IN.wav -c 1 "
                         f"-b 16 -r {sample_rate or rate} OUT.wav`)")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / np.float32(32768.0)
