"""Text pre- and post-processing in numpy, as a device runs it: tokens laid out as each model reads
them, and answers decoded as `serving_default` decodes them (fast: a hand-made vocab, no model)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from liveri import processing, tokenization
from liveri.tokenization import BOS_ID, EOS_ID, SPACE, SPECIALS, UNK_ID

PUNCTUATE = {"kind": "punctuate", "scores_output": "scores", "marks": ["", ",", ".", "?"]}
LANGUAGE_MODEL = {"kind": "language_model", "scores_output": "scores"}


def _vocab_text(tokens: list[str]) -> str:
    return "".join(t + "\n" for t in list(SPECIALS) + tokens)


@pytest.fixture
def words() -> tokenization.Tokenizer:
    chars = list("abcdefghijklmnopqrstuvwxyz'")
    return processing.text_tokenizer({"kind": "text", "tokenizer": "word"},
                                     _vocab_text(chars + ["hello", f"{SPACE}there"]))


@pytest.fixture
def chars() -> tokenization.Tokenizer:
    return processing.text_tokenizer({"kind": "text", "tokenizer": "char"},
                                     _vocab_text(list("abc") + [SPACE]))


def test_device_text_processing_imports_neither_tensorflow_nor_train() -> None:
    code = ("import sys, liveri.processing, liveri.tokenization; print(sorted(m for m in "
            "sys.modules if m.split('.')[0] == 'tensorflow' or m.startswith('liveri.train')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_punctuator_reads_lowercased_words_without_marks(words) -> None:
    batch = processing.preprocess_text(PUNCTUATE, words, ["Hello, there!", "Hey"])
    # "hello" and "▁there" are words of the vocab; "hey" is spelled in characters.
    assert batch.pieces == [["hello", f"{SPACE}there"], ["hey"]]
    assert batch.lengths == [2, 3]
    assert batch.features["ids"].dtype == np.int32
    np.testing.assert_array_equal(batch.features["ids"][0], [31, 32, 0])
    np.testing.assert_array_equal(batch.features["paddings"], [[0, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(batch.piece_of_token[1], [0, 0, 0])


def test_punctuator_marks_each_word_by_its_last_token(words) -> None:
    batch = processing.preprocess_text(PUNCTUATE, words, ["hello there", "hey"])
    scores = np.zeros((2, 3, 4), np.float32)
    scores[0, 0, 1] = scores[0, 1, 2] = 1.0  # hello -> ",", there -> "."
    scores[1, :2, 3] = 1.0  # "?" on h and e only: not the word's last token
    scores[1, 2, 0] = 1.0
    answers = processing.postprocess_text(PUNCTUATE, words, batch, {"scores": scores})
    assert answers[0]["text"] == "hello, there."
    assert answers[0]["marks"] == [",", "."]
    assert answers[0]["scores"] == [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
    assert answers[1]["text"] == "hey" and answers[1]["marks"] == [""]


def test_text_without_words_has_nothing_to_punctuate(words) -> None:
    batch = processing.preprocess_text(PUNCTUATE, words, ["?!"])
    assert batch.lengths == [0] and batch.features["paddings"].tolist() == [[1.0]]
    (answer,) = processing.postprocess_text(PUNCTUATE, words, batch, {})
    assert answer == {"text": "", "marks": [], "scores": []}


def test_language_model_scores_tokens_then_end_of_sentence(chars) -> None:
    batch = processing.preprocess_text(LANGUAGE_MODEL, chars, ["ab c", "z"])
    a, b, c, space = 4, 5, 6, 7
    np.testing.assert_array_equal(batch.features["ids"],
                                  [[BOS_ID, a, b, space, c], [BOS_ID, UNK_ID, 0, 0, 0]])
    np.testing.assert_array_equal(batch.features["labels"],
                                  [[a, b, space, c, EOS_ID], [UNK_ID, EOS_ID, 0, 0, 0]])
    np.testing.assert_array_equal(batch.features["paddings"][1], [0, 0, 1, 1, 1])
    scores = np.full((2, 5), -1.0, np.float32)
    scores[1, 2:] = 0.0
    predictions = np.array([[a, b, c, EOS_ID, space], [EOS_ID, a, 0, 0, 0]], np.int32)
    answers = processing.postprocess_text(LANGUAGE_MODEL, chars, batch,
                                          {"scores": scores, "predictions": predictions})
    assert answers[0]["log_prob"] == -5.0
    assert answers[0]["perplexity"] == pytest.approx(np.e)
    assert answers[1]["log_prob"] == -2.0 and answers[1]["scores"] == [-1.0, -1.0]
    # serving_default reads the prediction after the text's last token; ▁ reads " ".
    assert answers[0]["next_token"] == " "
    assert answers[1]["next_token"] == "a"


def test_language_model_refuses_text_without_tokens(chars) -> None:
    with pytest.raises(ValueError, match="no tokens"):
        processing.preprocess_text(LANGUAGE_MODEL, chars, ["  \t "])


def test_refuses_what_it_cannot_process(chars) -> None:
    with pytest.raises(ValueError, match="expected a str"):
        processing.preprocess_text(LANGUAGE_MODEL, chars, [b"abc"])
    with pytest.raises(ValueError, match="not a text kind"):
        processing.preprocess_text({"kind": "classify"}, chars, ["abc"])
    with pytest.raises(ValueError, match="tokenizer 'bpe' is not supported"):
        processing.text_tokenizer({"kind": "text", "tokenizer": "bpe"}, _vocab_text([]))
    with pytest.raises(ValueError, match="a vocab starts with"):
        processing.text_tokenizer({"kind": "text", "tokenizer": "char"}, "a\nb\n")
