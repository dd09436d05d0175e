"""Language-model input: fortunes sentences as token ids for next-token prediction."""

from __future__ import annotations

from typing import Any

from liveri.train.input.text_input import TextInput, with_markers


class LmInput(TextInput):
    """Examples: `ids` (<s> + tokens), `labels` (tokens + </s>), `paddings` (1.0 = padded),
    each [B, T] with T the batch's length bucket."""

    VOCAB_NAME = "lm"
    LENGTH_KEYS = ("ids", "labels", "paddings")

    def EncodeTf(self, texts: Any) -> dict[str, Any]:
        ids, labels, paddings = with_markers(self.Tokenizer().encode_tf(texts))
        return {"ids": ids, "labels": labels, "paddings": paddings}
