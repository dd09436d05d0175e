"""What the two text kinds share: checking strings, the tokenizer the spec names, padding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from liveri import tokenization
from liveri.artifact.kinds.base import InputError, KindError, side_file_text
from liveri.tokenization import Tokenizer


def tokenizer(preprocessing: Mapping[str, Any], files: Mapping[str, bytes]) -> Tokenizer:
    """The tokenizer a "text" preprocessing spec names, over the shipped vocab file."""
    if preprocessing.get("kind") != "text":
        raise KindError(f"preprocessing kind {preprocessing.get('kind')!r} is not text")
    kinds = tokenization.TOKENIZERS
    if preprocessing.get("tokenizer") not in kinds:
        raise KindError(f"tokenizer {preprocessing.get('tokenizer')!r} is not supported "
                        f"(expected one of {sorted(kinds)})")
    text = side_file_text(files, "vocab_file", "text")
    try:
        return kinds[preprocessing["tokenizer"]].from_text(text)
    except ValueError as e:
        raise KindError(f"vocab_file: not a usable vocab ({e})") from None


def texts(examples: Sequence[Any]) -> list[str]:
    """Each example as a str (UTF-8 bytes are decoded); anything else is refused."""
    out = []
    for x in examples:
        if isinstance(x, bytes):
            try:
                x = x.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(f"text: not UTF-8 ({e})") from None
        if not isinstance(x, str):
            raise InputError(f"text: expected a str, got {type(x).__name__}")
        out.append(x)
    return out


def pad(rows: list[np.ndarray], dtype: type) -> np.ndarray:
    """Rows [T_i] -> [N, max(1, T)], zero after each row (a model never sees a length of 0)."""
    out = np.zeros((len(rows), max([1] + [len(r) for r in rows])), dtype)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def paddings(lengths: list[int], width: int) -> np.ndarray:
    return (np.arange(width)[None, :] >= np.array(lengths)[:, None]).astype(np.float32)


def serving_inputs(examples: Sequence[Any]) -> dict[str, np.ndarray]:
    batch = np.empty(len(examples), dtype=object)
    batch[:] = [t.encode() for t in texts(examples)]
    return {"text": batch}


def serving_texts(inputs: Mapping[str, np.ndarray]) -> list[str]:
    return texts(list(np.asarray(inputs["text"]).reshape(-1)))
