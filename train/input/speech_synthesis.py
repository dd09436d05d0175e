"""Speaking sentences with espeak-ng and sox: 16 kHz mono 16-bit wav files, deterministic.

Each utterance is one voice (an espeak-ng language and variant), speed and pitch, with silence
padding and background noise mixed in by sox. Sox runs with -R so its noise is repeatable; the
noise colour, level and padding vary per utterance, so a rebuild gives the same bytes.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from liveri.errors import UsageError

DEB_PACKAGES = {"espeak-ng": "espeak-ng", "sox": "sox"}


@dataclass(frozen=True)
class Utterance:
    """How one sentence is spoken, and where its wav goes."""

    wav: str
    transcript: str
    voice: str
    speed: int
    pitch: int
    noise: str
    noise_volume: float
    pad_before: float
    pad_after: float


def check_tools() -> None:
    """Raise naming the Debian packages to install when espeak-ng or sox is missing."""
    missing = [pkg for tool, pkg in DEB_PACKAGES.items() if shutil.which(tool) is None]
    if missing:
        raise UsageError(
            f"speech data needs {' and '.join(missing)} (not found on PATH): install with "
            f"`sudo apt-get install -y {' '.join(missing)}` or run scripts/setup.sh.")


def synthesize(utterance: Utterance, out_dir: Path, sample_rate: int) -> None:
    """Write `out_dir/utterance.wav`, spoken, padded, noised and resampled."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", utterance.voice, "-s", str(utterance.speed), "-p",
                        str(utterance.pitch), "-w", str(raw), "--stdin"],
                       input=utterance.transcript.encode(), check=True, capture_output=True)
        shape = f"rate {sample_rate} channels 1 pad {utterance.pad_before} {utterance.pad_after}"
        speech = f"|sox -R {raw} -p {shape}"
        noise = f"|sox -R {raw} -p {shape} synth {utterance.noise} vol {utterance.noise_volume}"
        subprocess.run(["sox", "-R", "-m", "-v", "1", speech, "-v", "1", noise, "-b", "16",
                        str(out_dir / utterance.wav)], check=True, capture_output=True)
