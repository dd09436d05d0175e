"""Text tagging (the punctuator): words in, a mark after each word out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from liveri import tokenization
from liveri.artifact.kinds import _text
from liveri.artifact.kinds.base import Encoded, Kind
from liveri.tokenization import MARKS, SPACE


class TextTagging(Kind):
    """The source is the text lowercased with every piece that is not a word dropped; each word
    is followed by the mark its last token scores highest (how the model was taught)."""

    name = "text_tagging"
    postprocessing_kinds = ("punctuate",)
    input_flag = '--text "..."'

    def __init__(self, preprocessing: dict[str, Any], postprocessing: dict[str, Any],
                 files: Mapping[str, bytes]) -> None:
        super().__init__(preprocessing, postprocessing, files)
        self.tokenizer = _text.tokenizer(preprocessing, files)
        self.marks = tuple(postprocessing.get("marks", MARKS))

    @property
    def feature_names(self) -> tuple[str, ...]:
        return ("ids", "paddings")

    def encode(self, examples: Sequence[Any]) -> Encoded:
        pieces = [tokenization.word_pieces(tokenization.punctuator_source(t))
                  for t in _text.texts(examples)]
        encoded = [self.tokenizer.encode_pieces_numpy(p) for p in pieces]
        ids = _text.pad([i for i, _ in encoded], np.int32)
        lengths = [len(i) for i, _ in encoded]
        return Encoded({"ids": ids, "paddings": _text.paddings(lengths, ids.shape[1])},
                       len(pieces), {"pieces": pieces, "lengths": lengths,
                                     "piece_of_token": [w for _, w in encoded]})

    def needs_model(self, encoded: Encoded) -> bool:
        """Text with no words is answered without the model (a row of padding only would
        divide by zero in a full-int8 graph)."""
        return any(encoded.context["lengths"])

    def decode(self, encoded: Encoded, outputs: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = []
        for i, pieces in enumerate(encoded.context["pieces"]):
            length = encoded.context["lengths"][i]
            if not length:
                answers.append({"text": "", "marks": [], "scores": []})
                continue
            piece_of_token = encoded.context["piece_of_token"][i]
            last_token = piece_of_token != np.append(piece_of_token[1:], -1)
            word_scores = np.asarray(outputs[self.scores_output])[i, :length][last_token]
            word_marks = [self.marks[int(m)] for m in np.argmax(word_scores, axis=-1)]
            words = [p.replace(SPACE, "") for p in pieces]
            answers.append({"text": " ".join(w + m for w, m in zip(words, word_marks,
                                                                   strict=True)),
                            "marks": word_marks,
                            "scores": [[float(v) for v in row] for row in word_scores]})
        return answers

    def serving_outputs(self, answers: list[dict[str, Any]], names: Sequence[str],
                        outputs: Mapping[str, np.ndarray] | None = None
                        ) -> dict[str, np.ndarray]:
        """`text` and the per-token mark probabilities [N, T, marks]. A batch of texts with no
        words never reaches the model; its one padding column scores uniformly."""
        return self.text_and_scores(answers, names, outputs, lambda n: np.full(
            (n, 1, len(self.marks)), 1.0 / len(self.marks), np.float32))

    def examples_from_serving(self, inputs: Mapping[str, np.ndarray]) -> list[Any]:
        return _text.serving_texts(inputs)

    def serving_inputs(self, examples: Sequence[Any]) -> dict[str, np.ndarray]:
        return _text.serving_inputs(examples)

    def agreement_key(self, answer: dict[str, Any]) -> Any:
        return answer["text"]

    def expects(self) -> str:
        return "one text example (a str)"
