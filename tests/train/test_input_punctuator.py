"""Punctuator and LM inputs: what a model trains on, bucketed and padded the Lingvo way."""

import numpy as np
import pytest
from liveri.train.input import tokenizers
from liveri.train.input.fortunes import fortune_files
from liveri.train.input.lm import LmInput
from liveri.train.input.punctuator import PunctuatorInput, mark_labels, punctuator_source

needs_fortunes = pytest.mark.skipif(not fortune_files("/usr/share/games/fortunes"),
                                    reason="Debian's fortunes package is not installed")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


def make(cls, data_dir, **overrides):
    p = cls.Params()
    p.Set(data_dir=data_dir, **overrides)
    return p.Instantiate()


def test_source_is_the_target_lowercased_without_punctuation():
    target = 'Well-known facts, he said, aren\'t "facts" at all?'
    assert punctuator_source(target) == "well known facts he said aren't facts at all"
    assert mark_labels(target).tolist() == [0, 0, 1, 0, 1, 0, 0, 0, 3]


@needs_fortunes
def test_examples_relate_source_and_target(data_dir):
    inp = make(PunctuatorInput, data_dir)
    examples = inp.Examples("dev")
    for source, target in zip(examples["text"][:200], examples["target"][:200]):
        assert source == punctuator_source(target)
        assert source == source.lower() and not set(source) & set(",.?!;:\"")


@needs_fortunes
def test_encoded_example_matches_numpy(data_dir):
    inp = make(PunctuatorInput, data_dir)
    tok = inp.Tokenizer()
    dev = inp.Sentences("dev")[:300]
    encoded = inp.EncodedDataset("dev").take(len(dev))
    for target, ex in zip(dev, encoded.as_numpy_iterator(), strict=True):
        source = punctuator_source(target)
        np.testing.assert_array_equal(ex["src_ids"], tok.encode_numpy(source))
        assert tok.decode(ex["tgt_labels"]) == target
        assert ex["tgt_ids"][0] == tokenizers.BOS_ID and ex["tgt_labels"][-1] == tokenizers.EOS_ID
        ids, word_of_token = tok.encode_pieces_numpy(tokenizers.WordTokenizer.pieces(source))
        last = np.append(word_of_token[1:] != word_of_token[:-1], True)
        expected = np.where(last, mark_labels(target)[word_of_token], 0)
        np.testing.assert_array_equal(ex["src_marks"], expected)


@needs_fortunes
@pytest.mark.parametrize("cls", [PunctuatorInput, LmInput])
def test_batches_pad_within_length_buckets(data_dir, cls):
    inp = make(cls, data_dir, deterministic=True, shuffle_buffer=256)
    bounds = [0] + inp.Boundaries()
    paddings_keys = [k for k in cls.LENGTH_KEYS if k.endswith("paddings")]
    for batch in inp.Dataset("train", 16, training=True, seed=3).take(30):
        length = batch[cls.LENGTH_KEYS[0]].shape[1]
        assert length in bounds and all(batch[k].shape == (16, length) for k in cls.LENGTH_KEYS)
        real = np.max([(1.0 - batch[k].numpy()).sum(axis=1) for k in paddings_keys], axis=0)
        assert (real > bounds[bounds.index(length) - 1]).all() and (real <= length).all()
        labels = batch["tgt_labels" if cls is PunctuatorInput else "labels"].numpy()
        paddings = batch[paddings_keys[-1]].numpy()
        np.testing.assert_array_equal(labels == tokenizers.PAD_ID, paddings == 1.0)


@needs_fortunes
def test_training_order_is_seeded_and_deterministic(data_dir):
    inp = make(LmInput, data_dir, deterministic=True, shuffle_buffer=256)

    def first(seed):
        return [b["ids"].numpy().tolist() for b in inp.Dataset("train", 8, True, seed).take(5)]

    assert first(1) == first(1) and first(1) != first(2)


@needs_fortunes
def test_eval_sees_every_sentence_once(data_dir):
    inp = make(LmInput, data_dir)
    tok = inp.Tokenizer()
    texts = [tok.decode(row) for b in inp.Dataset("dev", 64, training=False)
             for row in b["labels"].numpy()]
    assert sorted(texts) == sorted(inp.Sentences("dev"))
