"""Speech recognition input: the fortunes prose spoken by espeak-ng, as log-mel features with
character targets.

Training utterances use `train_voices`; dev and test use `eval_voices`, never heard in training,
on the dev and test sentences. Wavs are synthesized once into the data cache (a few minutes for
the default 2,000 training utterances on 2 cores); features are computed in the graph.
Transcripts are what can be heard: the sentence's words, lowercased, without punctuation.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import sys
import time
import wave
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from liveri.train.input import data_cache, speech_synthesis
from liveri.train.input.base_input import SPLITS
from liveri.train.input.log_mel import LogMelConfig, log_mel_tf
from liveri.train.input.punctuator import punctuator_source
from liveri.train.input.text_input import TextInput, with_markers

from liveri.fileio import atomic_write_text
from liveri.lazy import tf
from liveri.params import Params

SPEECH_VERSION = 1
_SPEAKABLE = re.compile(r"[A-Za-z ,.?!;:'\"()-]+")


class SpeechInput(TextInput):
    """Examples: `src_features` [B, T, num_mel_bins] log-mels and `src_paddings` [B, T] (1.0 =
    padded frame), bucketed by T; `tgt_ids` (<s> + chars), `tgt_labels` (chars + </s>),
    `tgt_paddings` for an attention decoder; `transcript_ids`, `transcript_paddings` (chars
    only) for CTC."""

    VOCAB_NAME = "speech"
    LENGTH_KEYS = ("src_features", "src_paddings")

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.tokenizer = "char"
        p.vocab_size = 0
        p.max_length = 1000
        p.shuffle_buffer = 512
        for split, count in (("train", 2000), ("dev", 200), ("test", 200)):
            p.Define(f"num_{split}_utterances", count, f"Utterances synthesized for {split} (at "
                     "most its speakable sentences; changing it synthesizes anew).")
        p.Define("max_speech_words", 14, "Longest sentence spoken, in words.")
        p.Define("train_voices", ["en-us+m1", "en-us+f2", "en-gb+m3", "en-gb+f1",
                                  "en-gb-scotland+m2", "en-029+m4", "en-gb-x-rp+f5"],
                 "espeak-ng voices (language+variant) of the training utterances.")
        p.Define("eval_voices", ["en-us+f4"], "Held-out voices of the dev and test utterances.")
        p.Define("speed_range", [140, 190], "Words per minute, drawn per utterance.")
        p.Define("pitch_range", [30, 70], "espeak-ng pitch (0..99), drawn per utterance.")
        p.Define("noise_volume_range", [0.0, 0.03], "Background noise amplitude range.")
        p.Define("sample_rate", 16000, "Samples per second of the wavs and features.")
        p.Define("num_mel_bins", 80, "Log-mel features per frame (25 ms frames, 10 ms step).")
        p.Define("synthesis_workers", 0, "Parallel synthesis processes; 0: one per CPU core.")
        return p

    def FeatureConfig(self) -> LogMelConfig:
        """The log-mel settings; export and mobile must compute features the same way."""
        return LogMelConfig(sample_rate=self.params.sample_rate,
                            frame_length=self.params.sample_rate * 25 // 1000,
                            frame_step=self.params.sample_rate * 10 // 1000,
                            num_mel_bins=self.params.num_mel_bins)

    def Boundaries(self) -> list[int]:
        """Buckets 16 frames wide: on the default training set, buckets of 100 padded the
        frames by 15% (the attention's T^2 by 31%), of 32 by 5% (9%), of 16 by 2% (4%)."""
        p = self.params
        return list(p.bucket_boundaries) or list(range(16, p.max_length + 1, 16))

    # -- text --------------------------------------------------------------------------------
    def SpeakableSentences(self, split: str) -> list[str]:
        """Sentences of `split` espeak reads as written: no digits or symbols, not too long."""
        return [s for s in self.Sentences(split)
                if _SPEAKABLE.fullmatch(s) and len(s.split()) <= self.params.max_speech_words]

    def VocabTexts(self) -> Iterable[str]:
        return [punctuator_source(s) for s in self.SpeakableSentences("train")]

    # -- audio -------------------------------------------------------------------------------
    def SpeechDir(self) -> Path:
        """The directory of `{split}/*.wav` and `{split}.tsv`; synthesized on first use."""
        p = self.params
        settings = (f"v{SPEECH_VERSION} {self.CorpusDir().name} {sorted(self._Counts().items())}"
                    f" {p.max_speech_words} {p.train_voices} {p.eval_voices} {p.speed_range} "
                    f"{p.pitch_range} {p.noise_volume_range} {p.sample_rate}")
        speech_dir = data_cache.data_root(p.data_dir) / f"speech-{data_cache.cache_key(settings)}"
        if not speech_dir.is_dir():
            speech_synthesis.check_tools()
            data_cache.build_once(speech_dir, self._Synthesize)
        return speech_dir

    def _Counts(self) -> dict[str, int]:
        return {split: self.params.Get(f"num_{split}_utterances") for split in SPLITS}

    def Utterances(self, split: str) -> list[speech_synthesis.Utterance]:
        """How each utterance of `split` is spoken: voice, speed, pitch and noise, seeded."""
        p = self.params
        voices = p.train_voices if split == "train" else p.eval_voices
        sentences = self.SpeakableSentences(split)[: self._Counts()[split]]
        out = []
        for i, sentence in enumerate(sentences):
            rng = np.random.default_rng([p.split_seed, SPLITS.index(split), i])
            out.append(speech_synthesis.Utterance(
                wav=f"{split}/{i:05d}.wav", transcript=punctuator_source(sentence),
                voice=voices[i % len(voices)], speed=int(rng.integers(*p.speed_range)),
                pitch=int(rng.integers(*p.pitch_range)),
                noise=str(rng.choice(["whitenoise", "pinknoise", "brownnoise"])),
                noise_volume=round(float(rng.uniform(*p.noise_volume_range)), 4),
                pad_before=round(float(rng.uniform(0.05, 0.3)), 2),
                pad_after=round(float(rng.uniform(0.05, 0.3)), 2)))
        return out

    def _Synthesize(self, out_dir: Path) -> None:
        work = [(split, u) for split in SPLITS for u in self.Utterances(split)]
        for split in SPLITS:
            (out_dir / split).mkdir()
        workers = self.params.synthesis_workers or os.cpu_count() or 1
        start = time.time()
        print(f"[speech] synthesizing {len(work)} utterances with espeak-ng into {out_dir.parent}"
              f" (once; about {len(work) * 0.075 / workers / 60:.1f} min)", file=sys.stderr)
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            jobs = [pool.submit(speech_synthesis.synthesize, u, out_dir, self.params.sample_rate)
                    for _, u in work]
            for done, job in enumerate(concurrent.futures.as_completed(jobs), 1):
                job.result()
                if done % max(1, len(work) // 10) == 0 or done == len(work):
                    print(f"[speech] {done}/{len(work)} utterances, {time.time() - start:.0f} s",
                          file=sys.stderr)
        for split in SPLITS:
            rows = [f"{u.wav}\t{u.transcript}\t{u.voice}\t{u.speed}\t{u.pitch}\t{u.noise}\t"
                    f"{u.noise_volume}\n" for s, u in work if s == split]
            header = "wav\ttranscript\tvoice\tspeed\tpitch\tnoise\tnoise_volume\n"
            atomic_write_text(out_dir / f"{split}.tsv", header + "".join(rows))

    def _Rows(self, split: str) -> list[list[str]]:
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        lines = (self.SpeechDir() / f"{split}.tsv").read_text().splitlines()[1:]
        return [line.split("\t") for line in lines]

    def Examples(self, split: str) -> dict[str, np.ndarray]:
        """{"waveform": [N] float32 arrays in [-1, 1] (what a client sends), "text": [N]}."""
        speech_dir = self.SpeechDir()
        waveforms = np.empty(len(rows := self._Rows(split)), dtype=object)
        for i, row in enumerate(rows):
            with wave.open(str(speech_dir / row[0])) as f:
                pcm = np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16)
            waveforms[i] = pcm.astype(np.float32) / 32768.0
        return {"waveform": waveforms, "text": np.array([r[1] for r in rows], dtype=object)}

    # -- pipeline ----------------------------------------------------------------------------
    def EncodedDataset(self, split: str) -> Any:
        """Utterances decoded and featurized one by one (audio does not batch before padding)."""
        p, rows = self.params, self._Rows(split)
        paths = [str(self.SpeechDir() / r[0]) for r in rows]
        utterances = tf.data.Dataset.from_tensor_slices((paths, [r[1] for r in rows]))
        return utterances.map(self.EncodeTf, num_parallel_calls=p.num_parallel_calls,
                              deterministic=p.deterministic or None)

    def FeaturesTf(self, waveform: Any) -> Any:
        """In-graph log-mel features [T, num_mel_bins] of a waveform [N] (float32 in [-1, 1])."""
        return log_mel_tf(waveform, self.FeatureConfig())

    def EncodeTf(self, wav_path: Any, transcript: Any) -> dict[str, Any]:  # type: ignore[override]
        audio, _ = tf.audio.decode_wav(tf.io.read_file(wav_path), desired_channels=1)
        features = self.FeaturesTf(audio[:, 0])
        chars = self.Tokenizer().encode_tf(transcript)
        tgt_ids, tgt_labels, tgt_paddings = with_markers(chars)
        return {"src_features": features,
                "src_paddings": tf.zeros(tf.shape(features)[:1], tf.float32),
                "tgt_ids": tgt_ids, "tgt_labels": tgt_labels, "tgt_paddings": tgt_paddings,
                "transcript_ids": chars,
                "transcript_paddings": tf.zeros(tf.shape(chars), tf.float32)}

