"""Text to token ids in plain Python and numpy: the rules a device applies, with no TensorFlow.

A tokenizer is its vocab file: one token per line, id = line number, starting with the special
tokens <pad>=0, <s>=1, </s>=2, <unk>=3. Training builds the file; export and the mobile bundle ship
the same file, so the same text gives the same ids on a device as in the SavedModel's graph
(`liveri.train.input.tokenizers` holds the in-graph twin, built from the patterns defined here).

The tokenizers first normalize whitespace (runs of ASCII whitespace and control characters become
one space, none at the ends), then cut the text into pieces and look each piece up:
- `CharTokenizer`: a piece per character, a space written `▁`.
- `WordTokenizer`: a piece per word (letters and digits, inner apostrophes) or per other
  character; a space before a piece joins it as a leading `▁`, so decoding is exact.
- `SubwordTokenizer`: the text with `▁` for every space and one in front (as sentencepiece
  writes it), cut greedily into the longest vocab piece at each position (one character where
  none fits). Its vocab is learned by sentencepiece (training only); the cut is this greedy
  longest match because stock TensorFlow ops can run it too (one RE2 alternation, longest piece
  first), so the SavedModel needs no custom op.
A piece not in the vocab is spelled with the vocab's characters (a word vocab holds every training
character), and only a character still unknown maps to <unk>. Only Python's `re` is used, with
patterns that mean the same in TensorFlow's RE2.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)
SPACE = "\u2581"

# Shared with the in-graph tokenizers: one definition of each rule.
WHITESPACE_PATTERN = r"[\x01-\x20\x7f]+"
EDGES_PATTERN = r"^ | $"
PIECE_PATTERN = r"[A-Za-z0-9]+(?:'[A-Za-z0-9]+)*|[^A-Za-z0-9 ]"
WORD_PATTERN = "\u2581?[A-Za-z0-9]+(?:'[A-Za-z0-9]+)*"  # a word piece, with its space if any
CUT = "\x1f"  # marks where a piece starts; normalization removed any in the text

# The punctuator's marks, by the index its model scores them at (0: no mark after the word).
MARKS = ("", ",", ".", "?")


def normalize(text: str) -> str:
    """Whitespace and control characters collapsed to single spaces, none at the ends."""
    return re.sub(EDGES_PATTERN, "", re.sub(WHITESPACE_PATTERN, " ", text))


def char_pieces(text: str) -> list[str]:
    """One piece per character of the normalized text, a space written `▁`."""
    return list(normalize(text).replace(" ", SPACE))


def word_pieces(text: str) -> list[str]:
    """One piece per word or other character; a preceding space joins the piece as `▁`."""
    cut = re.sub(PIECE_PATTERN, lambda m: CUT + m.group(0), normalize(text))
    return cut.replace(" " + CUT, CUT + SPACE).split(CUT)[1:]


def punctuator_source(text: str) -> str:
    """What the punctuator reads for `text`: its words, lowercased, without punctuation."""
    words = [p.lstrip(SPACE) for p in word_pieces(text) if re.fullmatch(WORD_PATTERN, p)]
    return " ".join(words).lower()


class Tokenizer:
    """A vocab and the rule that cuts text into the pieces it holds."""

    def __init__(self, vocab: list[str]) -> None:
        if tuple(vocab[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocab starts with {SPECIALS}, got {vocab[:len(SPECIALS)]}")
        if len(set(vocab)) != len(vocab):
            raise ValueError("a vocab holds each token once")
        self.vocab = list(vocab)
        self._ids = {token: i for i, token in enumerate(self.vocab)}

    @classmethod
    def from_text(cls, text: str) -> Tokenizer:
        """The tokenizer of a vocab file's contents (one token per line, each line ended)."""
        return cls(text.split("\n")[:-1])

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        """The tokenizer of a vocab file."""
        return cls.from_text(Path(path).read_text(encoding="utf-8"))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

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


class CharTokenizer(Tokenizer):
    """One token per character: a small closed vocab, for speech targets and char-level models."""

    pieces = staticmethod(char_pieces)


class WordTokenizer(Tokenizer):
    """One token per word or punctuation mark, `▁` marking a preceding space; a word out of the
    vocab is spelled in characters, so no training character is ever <unk>."""

    pieces = staticmethod(word_pieces)


class SubwordTokenizer(Tokenizer):
    """Subword pieces learned by sentencepiece, cut by greedy longest match (module docstring);
    a piece's characters are in the vocab, so only unseen characters are <unk>."""

    def __init__(self, vocab: list[str]) -> None:
        super().__init__(vocab)
        self.multi_char = sorted((t for t in vocab[len(SPECIALS):] if len(t) > 1),
                                 key=lambda t: (-len(t), t))
        self._known = set(self.multi_char)
        self._longest = max((len(t) for t in self.multi_char), default=1)

    def pieces(self, text: str) -> list[str]:  # type: ignore[override]
        marked = subword_text(text)
        out, i = [], 0
        while i < len(marked):
            for size in range(min(self._longest, len(marked) - i), 1, -1):
                if marked[i:i + size] in self._known:
                    break
            else:
                size = 1
            out.append(marked[i:i + size])
            i += size
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids` without the `▁` every subword text starts with."""
        text = super().decode(ids)
        return text[1:] if text.startswith(" ") else text


def subword_text(text: str) -> str:
    """Normalized text as the subword vocab spells it: `▁` for each space and one in front."""
    normalized = normalize(text)
    return SPACE + normalized.replace(" ", SPACE) if normalized else ""


TOKENIZERS: dict[str, type[Tokenizer]] = {"char": CharTokenizer, "word": WordTokenizer,
                                          "subword": SubwordTokenizer}
