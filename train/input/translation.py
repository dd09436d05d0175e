"""Translation input: English -> German message pairs (`gettext_corpus`) as subword ids.

Placeholders are protected before tokenization (`liveri.placeholders`): the model reads and writes
`⟦0⟧`, `⟦1⟧`, ... (whole vocab pieces), never `%s` itself, so copying a placeholder is one token and
restoring it is exact. Both languages share one subword vocab, learned from the training pairs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from liveri.train.input import data_cache, gettext_corpus, tokenizers
from liveri.train.input.base_input import SPLITS
from liveri.train.input.text_input import TokenizedInput, with_markers

from liveri.lazy import tf
from liveri.params import Params
from liveri.placeholders import protect, token

# Protected tokens kept whole in the vocab; a message with more placeholders (4 in the corpus)
# spells the extra tokens in characters.
NUM_PLACEHOLDER_TOKENS = 12


class TranslationInput(TokenizedInput):
    """Examples: `src_ids` (source + </s>), `src_paddings`, `tgt_ids` (<s> + target),
    `tgt_labels` (target + </s>), `tgt_paddings`, each [B, T] with T the batch's length bucket.
    `Examples(split)` are the raw pairs: {"text": English, "target": German}."""

    VOCAB_NAME = "translation"
    LENGTH_KEYS = ("src_ids", "src_paddings", "tgt_ids", "tgt_labels", "tgt_paddings")

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("data_dir", "", f"Data cache root; empty: ${data_cache.DATA_DIR_ENV} or "
                 f"{data_cache.DEFAULT_DATA_DIR}.")
        p.Define("locale_dir", gettext_corpus.LOCALE_DIR, "Where the .mo catalogues are.")
        p.Define("language", "de", "Target language (its catalogues' locale).")
        p.tokenizer = "subword"
        p.vocab_size = 4000
        p.max_length = 64
        return p

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self._corpus: gettext_corpus.Corpus | None = None

    def Corpus(self) -> gettext_corpus.Corpus:
        if self._corpus is None:
            p = self.params
            self._corpus = gettext_corpus.load_corpus(p.data_dir, p.locale_dir, p.language)
        return self._corpus

    def CorpusDir(self) -> Path:
        """The vocab's directory: keyed by the corpus's hash, so a new corpus learns anew."""
        key = self.Corpus().fingerprint["sha256"][:16]
        path = data_cache.data_root(self.params.data_dir) / f"translation-vocab-{key}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def Fingerprint(self) -> dict:
        """What the corpus came from (package versions, hashes): export puts it in the manifest."""
        return self.Corpus().fingerprint

    def Pairs(self, split: str) -> list[gettext_corpus.Pair]:
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        return self.Corpus().splits[split]

    def Protected(self, split: str) -> tuple[list[str], list[str]]:
        """The split's sources and targets with placeholders protected."""
        sources, targets = [], []
        for pair in self.Pairs(split):
            source, numbered = protect(pair.source)
            sources.append(source)
            targets.append(protect(pair.target, numbered)[0])
        return sources, targets

    def Examples(self, split: str) -> dict[str, np.ndarray]:
        pairs = self.Pairs(split)
        return {"text": np.array([p.source for p in pairs], dtype=object),
                "target": np.array([p.target for p in pairs], dtype=object)}

    # -- vocab and pipeline ------------------------------------------------------------------
    def VocabTexts(self) -> Iterable[str]:
        sources, targets = self.Protected("train")
        return sources + targets

    def BuildTokenizer(self) -> tokenizers.Tokenizer:
        if self.params.tokenizer != "subword":
            return super().BuildTokenizer()
        return tokenizers.SubwordTokenizer.build(
            self.VocabTexts(), max_size=self.params.vocab_size,
            symbols=[token(i) for i in range(NUM_PLACEHOLDER_TOKENS)])

    def Texts(self, split: str) -> Any:
        sources, targets = self.Protected(split)
        return tf.constant(sources, tf.string), tf.constant(targets, tf.string)

    def EncodeTf(self, sources: Any, targets: Any) -> dict[str, Any]:
        tok = self.Tokenizer()
        src = tok.encode_tf(sources)
        eos = tf.fill([src.nrows(), 1], tf.constant(tokenizers.EOS_ID, src.dtype))
        src = tf.concat([src, eos], axis=1)
        ids, labels, paddings = with_markers(tok.encode_tf(targets))
        return {"src_ids": src, "src_paddings": tf.zeros_like(src, tf.float32),
                "tgt_ids": ids, "tgt_labels": labels, "tgt_paddings": paddings}
