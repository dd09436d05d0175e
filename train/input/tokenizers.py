"""Text to token ids, identically in numpy (mobile, tests) and in the TF graph (SavedModel).

A tokenizer is its vocab file: one token per line, id = line number, starting with the special
tokens <pad>=0, <s>=1, </s>=2, <unk>=3. Training builds the file from the training split only;
export and the mobile runtime ship the same file, so the same text gives the same ids everywhere.

Both tokenizers first normalize whitespace (runs of ASCII whitespace and control characters become
one space, none at the ends), then cut the text into pieces and look each piece up:
- `CharTokenizer`: a piece per character, a space written `▁`.
- `WordTokenizer`: a piece per word (letters and digits, inner apostrophes) or per other
  character; a space before a piece joins it as a leading `▁`, so decoding is exact.
A piece not in the vocab is spelled with the vocab's characters (a word vocab holds every training
character), and only a character still unknown maps to <unk>. `encode_numpy` uses only Python's `re` (whose patterns here mean the
same as TensorFlow's RE2), and `encode_tf` only tf.strings ops and a StaticHashTable.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from liveri.fileio import atomic_write_text
from liveri.lazy import tf

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)
SPACE = "\u2581"

_WHITESPACE = r"[\x01-\x20\x7f]+"
_EDGES = r"^ | $"
_PIECE = r"[A-Za-z0-9]+(?:'[A-Za-z0-9]+)*|[^A-Za-z0-9 ]"
_CUT = "\x1f"  # marks where a piece starts; normalization removed any in the text


def normalize(text: str) -> str:
    """Whitespace and control characters collapsed to single spaces, none at the ends."""
    return re.sub(_EDGES, "", re.sub(_WHITESPACE, " ", text))


def normalize_tf(strings: Any) -> Any:
    return tf.strings.regex_replace(tf.strings.regex_replace(strings, _WHITESPACE, " "), _EDGES, "")


class Tokenizer:
    """A vocab and the rule that cuts text into the pieces it holds."""

    def __init__(self, vocab: list[str]) -> None:
        if tuple(vocab[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocab starts with {SPECIALS}, got {vocab[:len(SPECIALS)]}")
        if len(set(vocab)) != len(vocab):
            raise ValueError("a vocab holds each token once")
        self.vocab = list(vocab)
        self._ids = {token: i for i, token in enumerate(self.vocab)}
        self._table: Any = None

    # -- building and files ------------------------------------------------------------------
    @classmethod
    def build(cls, texts: Iterable[str], max_size: int = 0, min_count: int = 1) -> Tokenizer:
        """A vocab of the pieces of `texts` seen at least `min_count` times, most frequent first,
        at most `max_size` tokens in all (0: no limit)."""
        tokens = _ranked(collections.Counter(p for t in texts for p in cls.pieces(t)), min_count)
        if max_size:
            tokens = tokens[: max(0, max_size - len(SPECIALS))]
        return cls(list(SPECIALS) + tokens)

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        """The tokenizer of a vocab file written by `save`."""
        return cls(Path(path).read_text(encoding="utf-8").split("\n")[:-1])

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, "".join(t + "\n" for t in self.vocab))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    # -- numpy -------------------------------------------------------------------------------
    @staticmethod
    def pieces(text: str) -> list[str]:
        raise NotImplementedError

    def encode_numpy(self, text: str) -> np.ndarray:
        """The ids of `text` as int32 [T], without <s> or </s>."""
        return self.encode_pieces_numpy(self.pieces(text))[0]

    def encode_pieces_numpy(self, pieces: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Ids int32 [T] of `pieces`, and for each id the index of the piece it spells."""
        ids: list[int] = []
        piece_of_id: list[int] = []
        for index, piece in enumerate(pieces):
            if piece in self._ids:
                spelled = [self._ids[piece]]
            else:
                spelled = [self._ids.get(c, UNK_ID) for c in piece]
            ids.extend(spelled)
            piece_of_id.extend([index] * len(spelled))
        return np.array(ids, dtype=np.int32), np.array(piece_of_id, dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`, stopping at </s> and skipping <pad> and <s>."""
        out = []
        for i in ids:
            if int(i) == EOS_ID:
                break
            if int(i) not in (PAD_ID, BOS_ID):
                out.append(self.vocab[int(i)])
        return "".join(out).replace(SPACE, " ")

    # -- graph -------------------------------------------------------------------------------
    @property
    def table(self) -> Any:
        """The token -> id StaticHashTable (attach it to a tf.Module to export it)."""
        if self._table is None:
            with tf.init_scope():  # built eagerly even when first used inside a tf.function
                self._table = tf.lookup.StaticHashTable(
                    tf.lookup.KeyValueTensorInitializer(
                        tf.constant(self.vocab), tf.range(len(self.vocab), dtype=tf.int64)),
                    default_value=UNK_ID)
        return self._table

    @staticmethod
    def pieces_tf(strings: Any) -> Any:
        """In-graph `pieces`: strings [B] -> RaggedTensor [B, (P)]."""
        raise NotImplementedError

    def encode_tf(self, strings: Any) -> Any:
        """In-graph ids: a string scalar gives int32 [T]; strings [B] give a RaggedTensor
        int32 [B, (T)]. The same ids as `encode_numpy`."""
        strings = tf.convert_to_tensor(strings, tf.string)
        ids, _ = self.encode_pieces_tf(self.pieces_tf(tf.reshape(strings, [-1])))
        return ids[0] if strings.shape.rank == 0 else ids

    def encode_pieces_tf(self, pieces: Any) -> tuple[Any, Any]:
        """In-graph `encode_pieces_numpy` over pieces [B, (P)]: ids and their piece index, both
        int32 [B, (T)]."""
        # Each piece becomes [its id] when known, else the ids of its characters: concatenate
        # both per piece, then keep the first or the rest.
        piece_ids = self._lookup(pieces)
        chars = tf.strings.unicode_split(pieces, "UTF-8")
        known = tf.not_equal(piece_ids, UNK_ID)
        spell = tf.gather(tf.logical_not(known.flat_values), chars.values.value_rowids())
        keep = tf.concat([tf.expand_dims(known, -1), chars.with_flat_values(spell)], axis=2)
        both = tf.concat([tf.expand_dims(piece_ids, -1), self._lookup(chars)], axis=2)
        piece_index = both.with_flat_values(
            tf.gather(_positions(piece_ids).flat_values, both.values.value_rowids()))
        ids = tf.ragged.boolean_mask(both, keep).merge_dims(1, 2)
        return ids, tf.ragged.boolean_mask(piece_index, keep).merge_dims(1, 2)

    def _lookup(self, tokens: Any) -> Any:
        return tf.cast(tf.ragged.map_flat_values(self.table.lookup, tokens), tf.int32)


class CharTokenizer(Tokenizer):
    """One token per character: a small closed vocab, for speech targets and char-level models."""

    @staticmethod
    def pieces(text: str) -> list[str]:
        return list(normalize(text).replace(" ", SPACE))

    @staticmethod
    def pieces_tf(strings: Any) -> Any:
        spaced = tf.strings.regex_replace(normalize_tf(strings), " ", SPACE)
        return tf.strings.unicode_split(spaced, "UTF-8")


class WordTokenizer(Tokenizer):
    """One token per word or punctuation mark, `▁` marking a preceding space; a word out of the
    vocab is spelled in characters, so no training character is ever <unk>."""

    @classmethod
    def build(cls, texts: Iterable[str], max_size: int = 0, min_count: int = 1) -> Tokenizer:
        texts = list(texts)
        chars = CharTokenizer.build(texts).vocab[len(SPECIALS):]
        words = [w for w in super().build(texts, 0, min_count).vocab[len(SPECIALS):]
                 if w not in set(chars)]
        if max_size:
            words = words[: max(0, max_size - len(SPECIALS) - len(chars))]
        return cls(list(SPECIALS) + chars + words)

    @staticmethod
    def pieces(text: str) -> list[str]:
        cut = re.sub(_PIECE, lambda m: _CUT + m.group(0), normalize(text))
        return cut.replace(" " + _CUT, _CUT + SPACE).split(_CUT)[1:]

    @staticmethod
    def pieces_tf(strings: Any) -> Any:
        cut = tf.strings.regex_replace(normalize_tf(strings), _PIECE, _CUT + r"\0")
        cut = tf.strings.regex_replace(cut, " " + _CUT, _CUT + SPACE)
        return tf.strings.split(cut, _CUT)[:, 1:]


def _ranked(counts: collections.Counter, min_count: int) -> list[str]:
    """Tokens seen at least `min_count` times, most frequent first, ties in code-point order."""
    kept = [(-c, t) for t, c in counts.items() if c >= min_count and t not in SPECIALS]
    return [t for _, t in sorted(kept)]


def _positions(ragged: Any) -> Any:
    """For ragged [B, (N)]: each value's index within its row, int32."""
    starts = tf.gather(ragged.row_starts(), ragged.value_rowids())
    return ragged.with_values(tf.cast(tf.range(tf.size(ragged.values, tf.int64)) - starts,
                                      tf.int32))


TOKENIZERS: dict[str, type[Tokenizer]] = {"char": CharTokenizer, "word": WordTokenizer}
