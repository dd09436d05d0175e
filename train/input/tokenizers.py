"""Text to token ids in the TF graph (SavedModel), identical to the numpy rules in core.

The vocab format, the normalization, the piece-cutting patterns and the numpy encoding live in
`liveri.tokenization` (devices use them without TensorFlow); this module adds what only training
and export need: building and saving a vocab, and `encode_tf`, made of tf.strings ops and a
StaticHashTable over the same patterns, so the same text gives the same ids in numpy and in graph.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from liveri import tokenization
from liveri.fileio import atomic_write_text
from liveri.lazy import tf
from liveri.tokenization import (
    BOS,
    BOS_ID,
    CUT,
    EDGES_PATTERN,
    EOS,
    EOS_ID,
    PAD,
    PAD_ID,
    PIECE_PATTERN,
    SPACE,
    SPECIALS,
    UNK,
    UNK_ID,
    WHITESPACE_PATTERN,
    normalize,
)

__all__ = ["BOS", "BOS_ID", "EOS", "EOS_ID", "PAD", "PAD_ID", "SPACE", "SPECIALS", "UNK",
           "UNK_ID", "TOKENIZERS", "CharTokenizer", "SubwordTokenizer", "Tokenizer",
           "WordTokenizer", "normalize", "normalize_tf"]


def normalize_tf(strings: Any) -> Any:
    """In-graph `normalize`."""
    spaced = tf.strings.regex_replace(strings, WHITESPACE_PATTERN, " ")
    return tf.strings.regex_replace(spaced, EDGES_PATTERN, "")


class Tokenizer(tokenization.Tokenizer):
    """The numpy tokenizer, plus building a vocab and encoding in the TF graph."""

    def __init__(self, vocab: list[str]) -> None:
        super().__init__(vocab)
        self._table: Any = None

    @classmethod
    def build(cls, texts: Iterable[str], max_size: int = 0, min_count: int = 1) -> Tokenizer:
        """A vocab of the pieces of `texts` seen at least `min_count` times, most frequent first,
        at most `max_size` tokens in all (0: no limit)."""
        tokens = _ranked(collections.Counter(p for t in texts for p in cls.pieces(t)), min_count)
        if max_size:
            tokens = tokens[: max(0, max_size - len(SPECIALS))]
        return cls(list(SPECIALS) + tokens)

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, "".join(t + "\n" for t in self.vocab))

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


class CharTokenizer(Tokenizer, tokenization.CharTokenizer):
    """One token per character: a small closed vocab, for speech targets and char-level models."""

    @staticmethod
    def pieces_tf(strings: Any) -> Any:
        spaced = tf.strings.regex_replace(normalize_tf(strings), " ", SPACE)
        return tf.strings.unicode_split(spaced, "UTF-8")


class WordTokenizer(Tokenizer, tokenization.WordTokenizer):
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
    def pieces_tf(strings: Any) -> Any:
        cut = tf.strings.regex_replace(normalize_tf(strings), PIECE_PATTERN, CUT + r"\0")
        cut = tf.strings.regex_replace(cut, " " + CUT, CUT + SPACE)
        return tf.strings.split(cut, CUT)[:, 1:]


def _ranked(counts: collections.Counter, min_count: int) -> list[str]:
    """Tokens seen at least `min_count` times, most frequent first, ties in code-point order."""
    kept = [(-c, t) for t, c in counts.items() if c >= min_count and t not in SPECIALS]
    return [t for _, t in sorted(kept)]


def _positions(ragged: Any) -> Any:
    """For ragged [B, (N)]: each value's index within its row, int32."""
    starts = tf.gather(ragged.row_starts(), ragged.value_rowids())
    return ragged.with_values(tf.cast(tf.range(tf.size(ragged.values, tf.int64)) - starts,
                                      tf.int32))


class SubwordTokenizer(Tokenizer, tokenization.SubwordTokenizer):
    """Subword pieces learned by sentencepiece (BPE), cut by greedy longest match, in numpy and
    in the graph alike (`liveri.tokenization` says why not sentencepiece's own segmentation)."""

    @classmethod
    def build(cls, texts: Iterable[str], max_size: int = 4000, min_count: int = 1,
              symbols: Iterable[str] = ()) -> Tokenizer:
        """A vocab of every character of `texts`, the `symbols` (kept whole: placeholders'
        protected tokens) and about `max_size` pieces sentencepiece learns from `texts`."""
        import io

        import sentencepiece as spm

        texts = [normalize(t) for t in texts]
        texts = [t for t in texts if t]
        symbols = list(symbols)
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=model, model_type="bpe",
            vocab_size=max(max_size - len(SPECIALS), 16), character_coverage=1.0,
            normalization_rule_name="identity", add_dummy_prefix=True,
            user_defined_symbols=symbols, bos_id=-1, eos_id=-1, pad_id=-1, unk_id=0,
            hard_vocab_limit=False, num_threads=2, minloglevel=2)
        sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
        learned = [sp.id_to_piece(i) for i in range(1, sp.get_piece_size())]
        chars = CharTokenizer.build(texts).vocab[len(SPECIALS):]
        tokens = list(dict.fromkeys(chars + symbols + learned))
        return cls(list(SPECIALS) + [t for t in tokens if t not in SPECIALS])

    def pieces_tf(self, strings: Any) -> Any:  # type: ignore[override]
        """In-graph `pieces`: one RE2 alternation of the vocab's pieces, longest first, then any
        character; RE2 takes the first alternative that matches, so the longest piece."""
        normalized = normalize_tf(strings)
        marked = tf.where(tf.equal(normalized, ""), normalized,
                          SPACE + tf.strings.regex_replace(normalized, " ", SPACE))
        pattern = "|".join(re.escape(p) for p in self.multi_char) + "|(?s:.)"
        cut = tf.strings.regex_replace(marked, pattern, CUT + r"\0")
        return tf.strings.split(cut, CUT)[:, 1:]


TOKENIZERS: dict[str, type[Tokenizer]] = {"char": CharTokenizer, "word": WordTokenizer,
                                          "subword": SubwordTokenizer}
