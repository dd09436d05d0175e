"""Speech to text: waveforms in, log-mels computed here in numpy, a greedy CTC transcript out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from liveri import audio
from liveri.artifact.kinds.base import Encoded, InputError, Kind, KindError, side_file_text
from liveri.tokenization import Tokenizer

INPUTS = ("features", "paddings")


class SpeechToText(Kind):
    name = "speech_to_text"
    postprocessing_kinds = ("ctc_greedy",)
    input_flag = "--wav FILE.wav"

    def __init__(self, preprocessing: dict[str, Any], postprocessing: dict[str, Any],
                 files: Mapping[str, bytes]) -> None:
        super().__init__(preprocessing, postprocessing, files)
        if preprocessing.get("kind") != "log_mel":
            raise KindError(f"preprocessing kind {preprocessing.get('kind')!r} is not log_mel")
        try:
            self.config = audio.LogMelConfig.from_spec(preprocessing)
        except ValueError as e:
            raise KindError(f"{e}; this runner cannot compute these features") from None
        try:
            self.vocab = Tokenizer.from_text(side_file_text(files, "vocab_file", "speech")).vocab
        except ValueError as e:
            raise KindError(f"vocab_file: not a usable vocab ({e})") from None
        self.table = audio.decoding_table(self.vocab)
        self.raw = preprocessing["raw_input"]
        self.stride = int(postprocessing["time_stride"])
        self.blank_id = int(postprocessing["blank_id"])

    @property
    def feature_names(self) -> tuple[str, ...]:
        return INPUTS

    def encode(self, examples: Sequence[Any]) -> Encoded:
        """Waveforms (float samples in [-1, 1] at the spec's rate) -> log-mels [N, T, mel] and
        paddings [N, T] (1.0 = padded frame)."""
        checked = [self._checked(w) for w in examples]
        features, paddings = audio.log_mel_batch(checked, self.config)
        return Encoded(dict(zip(INPUTS, (features, paddings), strict=True)), len(checked))

    def _checked(self, raw: Any) -> np.ndarray:
        x = np.asarray(raw)
        rate = self.config.sample_rate
        if x.dtype.kind != "f":
            raise InputError(f"waveform: expected float samples in [-1, 1] (16-bit PCM / "
                             f"32768), got dtype {x.dtype}")
        if x.ndim != 1:
            raise InputError(f"waveform: expected one mono channel, shape [samples], got shape "
                             f"{list(x.shape)}")
        if len(x) < self.config.frame_length:
            raise InputError(f"waveform: {len(x)} samples is shorter than one frame "
                             f"({self.config.frame_length} samples at {rate} Hz)")
        if not np.all(np.isfinite(x)) or np.max(np.abs(x)) > 1.0:
            raise InputError(f"waveform: expected finite samples in [-1, 1], got values up to "
                             f"{np.max(np.abs(x))}")
        return x

    def decode(self, encoded: Encoded, outputs: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
        """Per-frame log-probs [N, T', C] -> per example the greedy CTC transcript and the
        scores of its real frames (ceil(real input frames / time_stride))."""
        scores = np.asarray(outputs[self.scores_output])
        if scores.shape[-1] != len(self.vocab):
            raise KindError(f"the model scores {scores.shape[-1]} classes but the vocab has "
                            f"{len(self.vocab)} tokens")
        real_frames = np.sum(encoded.features["paddings"] < 0.5, axis=1)
        answers = []
        for row, real in zip(scores, real_frames, strict=True):
            frames = row[: -(-int(real) // self.stride)]
            answers.append({"text": audio.greedy_ctc_text(frames, self.table, self.blank_id),
                            "scores": frames.tolist()})
        return answers

    def serving_outputs(self, answers: list[dict[str, Any]], names: Sequence[str],
                        outputs: Mapping[str, np.ndarray] | None = None
                        ) -> dict[str, np.ndarray]:
        """`text`, and `scores` as the graph writes them (`scores_as_served`)."""
        scores = self.scores_as_served(answers, outputs or {})
        return self.text_and_scores(answers, names, {self.scores_output: scores}, None)

    def scores_as_served(self, answers: list[dict[str, Any]],
                         outputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """[N, T', C]: T' the longest utterance's real frames, a shorter one's padded frames
        zero (what the model computes past an utterance's end is no answer)."""
        longest = max((len(a["scores"]) for a in answers), default=0)
        scores = np.zeros((len(answers), longest, len(self.vocab)), np.float32)
        for row, answer in zip(scores, answers, strict=True):
            row[: len(answer["scores"])] = answer["scores"]
        return scores

    def examples_from_serving(self, inputs: Mapping[str, np.ndarray]) -> list[Any]:
        """`serving_default` takes zero-padded waveforms and each one's real length."""
        return [w[:n] for w, n in zip(inputs[self.raw["name"]], inputs["lengths"], strict=True)]

    def serving_inputs(self, examples: Sequence[Any]) -> dict[str, np.ndarray]:
        """Zero-padded waveforms and each one's real length, as `serving_default` takes them."""
        waves = [self._checked(w) for w in examples]
        lengths = np.array([len(w) for w in waves], np.int32)
        waveform = np.zeros((len(waves), max(lengths)), np.float32)
        for i, w in enumerate(waves):
            waveform[i, : len(w)] = w
        return {self.raw["name"]: waveform, "lengths": lengths}

    def agreement_key(self, answer: dict[str, Any]) -> Any:
        return answer["text"]

    def expects(self) -> str:
        return (f"one audio example {self.raw['name']!r}, dtype {self.raw['dtype']}, values "
                f"{self.raw['range'][0]}..{self.raw['range'][1]}, mono, "
                f"{self.raw['sample_rate']} Hz")
