"""The shared pipeline of the text tasks: texts -> ids -> length buckets.

`TokenizedInput` is the pipeline over any corpus; `TextInput` feeds it fortunes sentences. A
subclass says which texts its vocab is built from and how texts become examples (`EncodeTf`,
in-graph: the same tf.strings rules as the exported model's tokenization, checked against the
numpy rules devices use). Texts are encoded in batches, which is several times faster than one
by one, once per pipeline: the encoded examples are cached in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from liveri.train.input import bucketing, tokenizers
from liveri.train.input.base_input import SPLITS, BaseInput
from liveri.train.input.fortunes import FortunesInput

from liveri.errors import UsageError
from liveri.lazy import tf
from liveri.params import Params

# Sentences per in-graph encoding call: big enough that per-call costs vanish.
ENCODE_BATCH = 512


class TokenizedInput(BaseInput):
    """Texts of a corpus as tokenized, bucketed, padded batches."""

    VOCAB_NAME = "text"

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("tokenizer", "word", f"Tokenizer: one of {sorted(tokenizers.TOKENIZERS)}.")
        p.Define("vocab_size", 4000, "Most tokens in the vocab (0: every piece seen).")
        p.Define("max_length", 128, "Longest training example along the bucketed axis (tokens; "
                 "frames for speech); longer ones are dropped from training, never from eval.")
        p.Define("bucket_boundaries", [], "Upper bounds of the length buckets; empty: "
                 "geometric from 8 to max_length.", type=list)
        p.Define("num_parallel_calls", -1, "Parallel map calls; -1: tf.data.AUTOTUNE.")
        p.Define("cache", True, "Keep encoded examples in memory after the first epoch.")
        return p

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        if self.params.tokenizer not in tokenizers.TOKENIZERS:
            raise UsageError(f"input.tokenizer: expected one of {sorted(tokenizers.TOKENIZERS)}, "
                             f"got {self.params.tokenizer!r}")
        self._tokenizer: tokenizers.Tokenizer | None = None

    # -- vocab ---------------------------------------------------------------------------------
    def VocabPath(self) -> Path:
        """The vocab file export and mobile ship; built from the training split on first use,
        beside the corpus (a subclass's `CorpusDir`)."""
        p = self.params
        path = self.CorpusDir() / f"vocab.{self.VOCAB_NAME}.{p.tokenizer}{p.vocab_size or ''}.txt"
        if not path.exists():
            self.BuildTokenizer().save(path)
        return path

    def BuildTokenizer(self) -> tokenizers.Tokenizer:
        cls = tokenizers.TOKENIZERS[self.params.tokenizer]
        return cls.build(self.VocabTexts(), max_size=self.params.vocab_size)

    def VocabTexts(self) -> Iterable[str]:
        """The texts the vocab is built from: the training split only."""
        raise NotImplementedError

    def Tokenizer(self) -> tokenizers.Tokenizer:
        if self._tokenizer is None:
            cls = tokenizers.TOKENIZERS[self.params.tokenizer]
            self._tokenizer = cls.load(self.VocabPath())
        return self._tokenizer

    # -- pipeline ------------------------------------------------------------------------------
    LENGTH_KEYS: tuple[str, ...] = ()

    def EncodeTf(self, texts: Any) -> dict[str, Any]:
        """Sentences (strings [B]) -> the examples' tensors, each a RaggedTensor [B, (T), ...]."""
        raise NotImplementedError

    def Texts(self, split: str) -> Any:
        """What `EncodeTf` takes for the split's examples: strings [N] (or a tuple of them)."""
        raise NotImplementedError

    def EncodedDataset(self, split: str) -> Any:
        """The split's examples, one element per text, in the corpus order."""
        texts = tf.data.Dataset.from_tensor_slices(self.Texts(split))
        encoded = texts.batch(ENCODE_BATCH).map(
            self.EncodeTf, num_parallel_calls=self.params.num_parallel_calls,
            deterministic=self.params.deterministic or None).unbatch()
        # Unbatched ragged rows are typed RaggedTensorSpec; a map makes them the plain tensors
        # that padded_batch takes.
        return encoded.map(lambda example: example)

    def Boundaries(self) -> list[int]:
        p = self.params
        return list(p.bucket_boundaries) or bucketing.geometric_boundaries(p.max_length)

    def Dataset(self, split: str, batch_size: int, training: bool, seed: int = 0) -> Any:
        """Batches of `split` padded per length bucket; training repeats and shuffles with seed."""
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        p = self.params
        self.Tokenizer().table  # noqa: B018 (build the lookup table outside the map's graph)
        ds = self.EncodedDataset(split)
        if p.cache:
            ds = ds.cache()
        if training:
            longest = tf.constant(p.max_length)
            ds = ds.filter(lambda ex: tf.reduce_all(
                [tf.shape(ex[k])[0] <= longest for k in self.LENGTH_KEYS]))
            ds = ds.shuffle(p.shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
        ds = bucketing.bucket_by_length(ds, self.LENGTH_KEYS, self.Boundaries(), batch_size,
                                        drop_remainder=training)
        options = tf.data.Options()
        options.deterministic = p.deterministic
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


class TextInput(TokenizedInput, FortunesInput):
    """Fortunes sentences as tokenized, bucketed, padded batches."""

    def VocabTexts(self) -> Iterable[str]:
        return self.Sentences("train")

    def Texts(self, split: str) -> Any:
        return tf.constant(self.Sentences(split), tf.string)


def with_markers(ids: Any) -> tuple[Any, Any, Any]:
    """Decoder input `<s> ids`, labels `ids </s>` and their paddings (all zeros), for ids [T]
    or a RaggedTensor [B, (T)]."""
    lead = [ids.nrows()] if isinstance(ids, tf.RaggedTensor) else []
    bos = tf.fill(lead + [1], tf.constant(tokenizers.BOS_ID, ids.dtype))
    eos = tf.fill(lead + [1], tf.constant(tokenizers.EOS_ID, ids.dtype))
    labels = tf.concat([ids, eos], axis=-1)
    return tf.concat([bos, ids], axis=-1), labels, tf.zeros_like(labels, tf.float32)
