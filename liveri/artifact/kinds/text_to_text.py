"""Text to text (translation): a message in, its translation and score out.

Encoding protects the message's placeholders (`liveri.placeholders`), cuts it into subword ids
and ends it with </s>; the model's `features` answer the best hypothesis's `ids` and `scores` (its length-normalized log
probability), and
decoding turns the ids back into text with the placeholders restored. The SavedModel's
`serving_default` does the same in its graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from liveri.artifact.kinds import _text
from liveri.artifact.kinds.base import Encoded, InputError, Kind, KindError
from liveri.placeholders import protect, restore
from liveri.tokenization import EOS_ID


class TextToText(Kind):
    name = "text_to_text"
    postprocessing_kinds = ("translation",)
    input_flag = '--text "..."'

    def __init__(self, preprocessing: dict[str, Any], postprocessing: dict[str, Any],
                 files: Mapping[str, bytes]) -> None:
        super().__init__(preprocessing, postprocessing, files)
        self.tokenizer = _text.tokenizer(preprocessing, files)
        limit = preprocessing.get("max_source_length")
        if not isinstance(limit, int) or limit < 2:
            raise KindError(f"preprocessing.max_source_length: expected an int >= 2, got "
                            f"{limit!r}")
        self.max_source_length = limit
        self.protects = preprocessing.get("placeholders") == "protected"

    @property
    def feature_names(self) -> tuple[str, ...]:
        return ("src_ids", "src_paddings")

    def encode(self, examples: Sequence[Any]) -> Encoded:
        texts = _text.texts(examples)
        rows, numbered = [], []
        for i, text in enumerate(texts):
            protected, found = protect(text) if self.protects else (text, [])
            ids = self.tokenizer.encode_numpy(protected)
            if not len(ids):
                raise InputError(f"text[{i}]: empty; expected a message with a character "
                                 "other than whitespace")
            if len(ids) + 1 > self.max_source_length:
                raise InputError(f"text[{i}]: {len(ids)} tokens; this model translates at "
                                 f"most {self.max_source_length - 1}")
            rows.append(np.append(ids, EOS_ID))
            numbered.append(found)
        src_ids = _text.pad(rows, np.int32)
        return Encoded({"src_ids": src_ids,
                        "src_paddings": _text.paddings([len(r) for r in rows], src_ids.shape[1])},
                       len(texts), {"placeholders": numbered})

    def decode(self, encoded: Encoded, outputs: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
        if "translation" in outputs:  # serving_default's own answers
            return [{"translation": t.decode("utf-8"), "score": float(s)} for t, s in
                    zip(np.asarray(outputs["translation"]), np.asarray(outputs["scores"]))]
        ids, scores = np.asarray(outputs["ids"]), np.asarray(outputs["scores"])
        return [{"translation": restore(self.tokenizer.decode(row), found), "score": float(s)}
                for row, s, found in zip(ids, scores, encoded.context["placeholders"])]

    def examples_from_serving(self, inputs: Mapping[str, np.ndarray]) -> list[Any]:
        return _text.serving_texts(inputs)

    def serving_inputs(self, examples: Sequence[Any]) -> dict[str, np.ndarray]:
        return _text.serving_inputs(examples)

    def serving_outputs(self, answers: list[dict[str, Any]], names: Sequence[str],
                        outputs: Mapping[str, np.ndarray] | None = None
                        ) -> dict[str, np.ndarray]:
        if set(names) - {"translation", "scores"}:
            return super().serving_outputs(answers, names)
        out = {"translation": np.array([a["translation"].encode() for a in answers], object),
               "scores": np.array([a["score"] for a in answers], np.float32)}
        return {name: out[name] for name in names}

    def agreement_key(self, answer: dict[str, Any]) -> Any:
        """The translation itself: two artifacts agree when they translate identically."""
        return answer["translation"]

    def expects(self) -> str:
        return "one message to translate (a str)"
