"""Text language models: a text in, its log-probability, perplexity and next token out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from liveri.artifact.kinds import _text
from liveri.artifact.kinds.base import Encoded, InputError, Kind
from liveri.tokenization import BOS_ID, EOS_ID, SPACE


class TextLm(Kind):
    """The model reads <s> + tokens and scores tokens + </s>; `serving_default` reads the next
    token after the text's last one."""

    name = "text_lm"
    postprocessing_kinds = ("language_model",)
    input_flag = '--text "..."'

    def __init__(self, preprocessing: dict[str, Any], postprocessing: dict[str, Any],
                 files: Mapping[str, bytes]) -> None:
        super().__init__(preprocessing, postprocessing, files)
        self.tokenizer = _text.tokenizer(preprocessing, files)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return ("ids", "labels", "paddings")

    def encode(self, examples: Sequence[Any]) -> Encoded:
        texts = _text.texts(examples)
        tokens = [self.tokenizer.encode_pieces_numpy(self.tokenizer.pieces(t))[0] for t in texts]
        for text, t in zip(texts, tokens, strict=True):
            if not len(t):
                raise InputError(f"text: {text!r} has no tokens; a language model scores at "
                                 f"least one character")
        ids = _text.pad([np.concatenate([[BOS_ID], t]) for t in tokens], np.int32)
        labels = _text.pad([np.concatenate([t, [EOS_ID]]) for t in tokens], np.int32)
        lengths = [len(t) + 1 for t in tokens]
        return Encoded({"ids": ids, "labels": labels,
                        "paddings": _text.paddings(lengths, ids.shape[1])},
                       len(texts), {"lengths": lengths})

    def decode(self, encoded: Encoded, outputs: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
        scores = np.asarray(outputs[self.scores_output])
        answers = []
        for i, length in enumerate(encoded.context["lengths"]):
            token_scores = scores[i, :length].astype(np.float64)
            log_prob = float(np.sum(token_scores))
            answers.append({"perplexity": float(np.exp(-log_prob / length)),
                            "log_prob": log_prob,
                            "next_token": self._next_token(outputs, i, length),
                            "scores": [float(s) for s in token_scores]})
        return answers

    def _next_token(self, outputs: Mapping[str, np.ndarray], i: int, length: int) -> str:
        """From the features' `predictions` after the last token, or the SavedModel's own
        `next_token` answer."""
        if "predictions" in outputs:
            next_id = int(np.asarray(outputs["predictions"])[i, length - 1])
            return self.tokenizer.vocab[next_id].replace(SPACE, " ")
        return np.asarray(outputs["next_token"])[i].decode()

    def examples_from_serving(self, inputs: Mapping[str, np.ndarray]) -> list[Any]:
        return _text.serving_texts(inputs)

    def serving_inputs(self, examples: Sequence[Any]) -> dict[str, np.ndarray]:
        return _text.serving_inputs(examples)

    def agreement_key(self, answer: dict[str, Any]) -> Any:
        """Log-perplexity to 0.01: quantized artifacts agree within rounding."""
        return round(float(np.log(answer["perplexity"])), 2)

    def expects(self) -> str:
        return "one text example (a str)"
