"""The subword tokenizer of the translation corpus: a vocab sentencepiece learns from both
languages, cut by greedy longest match to the same ids in numpy (devices) and in the TF graph
(the SavedModel, stock ops only)."""

from __future__ import annotations

import numpy as np
import pytest
from liveri.train.input.gettext_corpus import load_corpus
from liveri.train.input.tokenizers import SubwordTokenizer

from liveri import tokenization
from liveri.placeholders import protect, token
from liveri.tokenization import SPACE, UNK_ID

SYMBOLS = [token(i) for i in range(10)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return load_corpus(str(tmp_path_factory.mktemp("mt")))


@pytest.fixture(scope="module")
def tokenizer(corpus) -> SubwordTokenizer:
    """Learned from both sides of the training pairs, placeholders protected."""
    texts = []
    for pair in corpus.splits["train"]:
        source, found = protect(pair.source)
        texts += [source, protect(pair.target, found)[0]]
    return SubwordTokenizer.build(texts, 2000, symbols=SYMBOLS)


def test_vocab_holds_specials_characters_placeholders_and_learned_pieces(tokenizer) -> None:
    assert tokenizer.vocab[:4] == list(tokenization.SPECIALS)
    assert 1900 <= tokenizer.vocab_size <= 2100
    assert set(SYMBOLS) <= set(tokenizer.vocab)
    assert {"ä", "ö", "ü", "ß", SPACE} <= set(tokenizer.vocab)
    assert any(p.startswith(SPACE) and len(p) > 4 for p in tokenizer.vocab)  # whole words
    reloaded = tokenization.TOKENIZERS["subword"].from_text(
        "".join(t + "\n" for t in tokenizer.vocab))
    assert reloaded.vocab == tokenizer.vocab


def test_numpy_and_graph_cut_held_out_text_to_the_same_ids(tokenizer, corpus) -> None:
    import tensorflow as tf

    texts = [protect(p.source)[0] for p in corpus.splits["dev"]]
    texts += [p.target for p in corpus.splits["test"][:300]] + ["", "  ", "x\ty", "日本"]
    in_graph = tokenizer.encode_tf(tf.constant(texts)).to_list()
    for text, graph_ids in zip(texts, in_graph, strict=True):
        np.testing.assert_array_equal(tokenizer.encode_numpy(text), graph_ids, err_msg=text)
    device = tokenization.TOKENIZERS["subword"](tokenizer.vocab)  # numpy only, as shipped
    assert device.encode_numpy(texts[0]).tolist() == in_graph[0]


def test_pieces_spell_the_text_and_placeholders_stay_whole(tokenizer) -> None:
    text, found = protect("cannot open %s: %d bytes left")
    pieces = tokenizer.pieces(text)
    assert "".join(pieces).replace(SPACE, " ").strip() == tokenization.normalize(text)
    assert token(0) in pieces and token(1) in pieces
    ids = tokenizer.encode_numpy(text)
    assert UNK_ID not in ids.tolist()
    assert tokenizer.decode(ids).strip() == text and found == ["%s", "%d"]
    assert tokenizer.encode_numpy("日").tolist()[-1] == UNK_ID  # unseen: <unk>
    assert tokenizer.pieces("") == []
