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

__all__ = ["MARKS", "PunctuatorInput", "last_of_word_tf", "mark_labels", "punctuator_source",
           "punctuator_source_tf"]


def punctuator_source_tf(texts: Any) -> Any:
    """In-graph `punctuator_source` of strings [B]."""
    pieces = tokenizers.WordTokenizer.pieces_tf(texts)
    words = tf.ragged.boolean_mask(pieces, tf.strings.regex_full_match(pieces, WORD_PATTERN))
    words = tf.strings.regex_replace(words, tokenizers.SPACE, "")
    return tf.strings.lower(tf.strings.reduce_join(words, axis=-1, separator=" "))


def last_of_word_tf(word_of_token: Any) -> Any:
    """Ragged [N, (T)] bool: the token is its word's last (the next one starts another word,
    or the row ends). `word_of_token` [N, (T)] holds each token's word index."""
    values = word_of_token.values
    following = tf.concat([values[1:], [-1]], 0)
    row_end = tf.equal(tf.range(1, tf.size(values, tf.int64) + 1),
                       tf.gather(word_of_token.row_limits(), word_of_token.value_rowids()))
    return word_of_token.with_values(tf.logical_or(tf.not_equal(values, following), row_end))


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

    def EncodeTf(self, texts: Any) -> dict[str, Any]:
        tok = self.Tokenizer()
        pieces = tokenizers.WordTokenizer.pieces_tf(texts)
        ends = tf.RaggedTensor.from_tensor(tf.fill([tf.shape(texts)[0], 1], ""))
        following = tf.concat([pieces, ends], axis=1)[:, 1:]
        marks = tf.zeros_like(following, tf.int32)
        for index, mark in enumerate(MARKS[1:], start=1):
            marks += index * tf.cast(tf.equal(following, mark), tf.int32)
        word_marks = tf.ragged.boolean_mask(marks, tf.strings.regex_full_match(pieces, WORD_PATTERN))
        src_pieces = tokenizers.WordTokenizer.pieces_tf(punctuator_source_tf(texts))
        src_ids, word_of_token = tok.encode_pieces_tf(src_pieces)
        # Each token takes its word's mark (flat index: the word's row start + its index).
        word_starts = tf.gather(word_marks.row_starts(), word_of_token.value_rowids())
        token_marks = tf.gather(word_marks.values,
                                word_starts + tf.cast(word_of_token.values, tf.int64))
        last = tf.cast(last_of_word_tf(word_of_token).values, tf.int32)
        tgt_ids, tgt_labels, tgt_paddings = with_markers(tok.encode_tf(texts))
        return {"src_ids": src_ids, "src_paddings": tf.zeros_like(src_ids, tf.float32),
                "src_marks": src_ids.with_values(token_marks * last), "tgt_ids": tgt_ids,
                "tgt_labels": tgt_labels, "tgt_paddings": tgt_paddings}
