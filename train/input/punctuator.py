"""Punctuation restoration (Lingvo's codelab task): from lowercased words without punctuation,
write the original sentence back.

The source is the sentence's words, lowercased, joined by single spaces: every piece that is not
a word (punctuation, quotes, hyphens) is dropped. Examples carry what both a sequence-to-sequence
model and a tagger need: the target ids, and for each source token the mark that follows its word
in the original (0 none, 1 comma, 2 period, 3 question mark), set on a word's last token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np
from liveri.train.input import tokenizers
from liveri.train.input.text_input import TextInput, with_markers

from liveri.lazy import tf
from liveri.tokenization import MARKS, WORD_PATTERN, punctuator_source

__all__ = ["MARKS", "PunctuatorInput", "mark_labels", "punctuator_source",
           "punctuator_source_tf"]


def punctuator_source_tf(texts: Any) -> Any:
    """In-graph `punctuator_source` of strings [B]."""
    pieces = tokenizers.WordTokenizer.pieces_tf(texts)
    words = tf.ragged.boolean_mask(pieces, tf.strings.regex_full_match(pieces, WORD_PATTERN))
    words = tf.strings.regex_replace(words, tokenizers.SPACE, "")
    return tf.strings.lower(tf.strings.reduce_join(words, axis=-1, separator=" "))


def mark_labels(text: str) -> np.ndarray:
    """For each word of `text`, the index in MARKS of the mark right after it (int32 [W])."""
    pieces = tokenizers.WordTokenizer.pieces(text)
    labels = []
    for i, piece in enumerate(pieces):
        if re.fullmatch(WORD_PATTERN, piece):
            following = pieces[i + 1] if i + 1 < len(pieces) else ""
            labels.append(MARKS.index(following) if following in MARKS[1:] else 0)
    return np.array(labels, dtype=np.int32)


class PunctuatorInput(TextInput):
    """Examples, each [B, T] with T the batch's length bucket:
    `src_ids`, `src_paddings`: the source tokens (no <s> or </s>);
    `src_marks`: per source token, the MARKS index after its word (tagger labels);
    `tgt_ids` (<s> + target), `tgt_labels` (target + </s>), `tgt_paddings`."""

    VOCAB_NAME = "punctuator"
    LENGTH_KEYS = ("src_ids", "src_paddings", "src_marks", "tgt_ids", "tgt_labels",
                   "tgt_paddings")

    def VocabTexts(self) -> Iterable[str]:
        """Training sentences and their sources, so lowercased words are in the vocab too."""
        train = self.Sentences("train")
        return list(train) + [punctuator_source(t) for t in train]

    def Examples(self, split: str) -> dict[str, np.ndarray]:
        """{"text": the sources a client sends, "target": the sentences to restore}."""
        targets = self.Sentences(split)
        return {"text": np.array([punctuator_source(t) for t in targets], dtype=object),
                "target": np.array(targets, dtype=object)}

    def EncodeTf(self, text: Any) -> dict[str, Any]:
        tok = self.Tokenizer()
        pieces = tokenizers.WordTokenizer.pieces_tf(tf.reshape(text, [1]))
        is_word = tf.strings.regex_full_match(pieces, WORD_PATTERN)
        following = tf.concat([pieces[:, 1:], tf.fill([1, 1], "")], axis=1)
        marks = tf.zeros_like(following, tf.int32)
        for index, mark in enumerate(MARKS[1:], start=1):
            marks += index * tf.cast(tf.equal(following, mark), tf.int32)
        word_marks = tf.ragged.boolean_mask(marks, is_word)
        src_pieces = tokenizers.WordTokenizer.pieces_tf(punctuator_source_tf(tf.reshape(text, [1])))
        src_ids, word_of_token = tok.encode_pieces_tf(src_pieces)
        src_ids, word_of_token = src_ids[0], word_of_token[0]
        last_of_word = tf.not_equal(word_of_token, tf.concat([word_of_token[1:], [-1]], 0))
        src_marks = tf.gather(word_marks[0], word_of_token) * tf.cast(last_of_word, tf.int32)
        tgt_ids, tgt_labels, tgt_paddings = with_markers(tok.encode_tf(text))
        return {"src_ids": src_ids, "src_paddings": tf.zeros(tf.shape(src_ids), tf.float32),
                "src_marks": src_marks, "tgt_ids": tgt_ids, "tgt_labels": tgt_labels,
                "tgt_paddings": tgt_paddings}
