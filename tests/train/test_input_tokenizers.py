"""Tokenizers: built from training text, saved as vocab files, same ids in numpy and in TF."""

import numpy as np
import pytest
from liveri.train.input import tokenizers
from liveri.train.input.fortunes import FortunesInput, fortune_files
from liveri.train.input.tokenizers import CharTokenizer, WordTokenizer

needs_fortunes = pytest.mark.skipif(not fortune_files("/usr/share/games/fortunes"),
                                    reason="Debian's fortunes package is not installed")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    p = FortunesInput.Params()
    p.data_dir = str(tmp_path_factory.mktemp("data"))
    return p.Instantiate()


def test_specials_come_first_and_file_round_trips(tmp_path):
    tok = WordTokenizer.build(["The cat sat.", "The dog sat!"])
    assert tok.vocab[:4] == ["<pad>", "<s>", "</s>", "<unk>"]
    assert (tokenizers.PAD_ID, tokenizers.BOS_ID, tokenizers.EOS_ID, tokenizers.UNK_ID) == (
        0, 1, 2, 3)
    tok.save(tmp_path / "vocab.txt")
    lines = (tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert lines == tok.vocab
    assert WordTokenizer.load(tmp_path / "vocab.txt").vocab == tok.vocab


def test_word_pieces_keep_spaces_so_decoding_is_exact():
    text = 'He said, "don\'t  stop-it."'
    assert WordTokenizer.pieces(text) == [
        "He", "\u2581said", ",", "\u2581\"", "don't", "\u2581stop", "-", "it", ".", '"']
    tok = WordTokenizer.build([text])
    assert tok.decode(tok.encode_numpy(text)) == 'He said, "don\'t stop-it."'


def test_unknown_words_are_spelled_in_characters():
    tok = WordTokenizer.build(["the cat sat on the mat"])
    ids = tok.encode_numpy("the mast")
    assert "\u2581mast" not in tok.vocab and len(ids) == 1 + len("\u2581mast")
    assert tokenizers.UNK_ID not in ids and tok.decode(ids) == "the mast"
    assert tok.decode(tok.encode_numpy("the dog")) == "the <unk>o<unk>"  # never saw d or g


@needs_fortunes
@pytest.mark.parametrize("kind", ["char", "word"])
def test_numpy_and_tf_agree_on_the_whole_dev_split(corpus, kind):
    import tensorflow as tf

    tok = tokenizers.TOKENIZERS[kind].build(corpus.Sentences("train"), max_size=4000)
    dev = corpus.Sentences("dev")
    graph_ids = tok.encode_tf(tf.constant(dev)).to_list()
    for text, ids in zip(dev, graph_ids):
        np.testing.assert_array_equal(tok.encode_numpy(text), ids, err_msg=text)
    assert sum(tok.decode(tok.encode_numpy(t)) == t for t in dev) == len(dev)
    assert tok.encode_tf(tf.constant(dev[0])).numpy().tolist() == graph_ids[0]


@needs_fortunes
def test_vocab_sizes(corpus):
    train = corpus.Sentences("train")
    chars = CharTokenizer.build(train)
    assert 40 < chars.vocab_size < 100
    words = WordTokenizer.build(train, max_size=4000)
    assert words.vocab_size == 4000
    assert set(chars.vocab) <= set(words.vocab)


def test_whitespace_and_odd_input_agree_in_graph():
    import tensorflow as tf

    tok = WordTokenizer.build(["Hello there, world."])
    odd = ["  Hello\tthere,\n\nworld.  ", "", "caf\u00e9 \u00fcber", "x\x1fy"]
    for text, ids in zip(odd, tok.encode_tf(tf.constant(odd)).to_list()):
        assert tok.encode_numpy(text).tolist() == ids, text
