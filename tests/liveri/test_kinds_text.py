"""The text kinds in numpy, as a device runs them: tokens laid out as each model reads them, and
answers decoded as `serving_default` decodes them (fast: a hand-made vocab, no model)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from liveri.artifact import kinds
from liveri.artifact.kinds import InputError, KindError
from liveri.tokenization import BOS_ID, EOS_ID, SPACE, SPECIALS, UNK_ID

PUNCTUATE = {"kind": "punctuate", "scores_output": "scores", "marks": ["", ",", ".", "?"]}
LANGUAGE_MODEL = {"kind": "language_model", "scores_output": "scores"}


def _vocab(tokens: list[str]) -> dict[str, bytes]:
    return {"vocab_file": "".join(t + "\n" for t in list(SPECIALS) + tokens).encode()}


@pytest.fixture
def words() -> kinds.Kind:
    chars = list("abcdefghijklmnopqrstuvwxyz'")
    return kinds.load({"kind": "text", "tokenizer": "word"}, PUNCTUATE,
                      _vocab(chars + ["hello", f"{SPACE}there"]))


@pytest.fixture
def chars() -> kinds.Kind:
    return kinds.load({"kind": "text", "tokenizer": "char"}, LANGUAGE_MODEL,
                      _vocab(list("abc") + [SPACE]))


def test_device_text_processing_imports_neither_tensorflow_nor_train() -> None:
    code = ("import sys, liveri.artifact.kinds, liveri.artifact.runner; print(sorted(m for m in "
            "sys.modules if m.split('.')[0] == 'tensorflow' or m.startswith('liveri.train')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_punctuator_reads_lowercased_words_without_marks(words) -> None:
    batch = words.encode(["Hello, there!", b"Hey"])
    # "hello" and "▁there" are words of the vocab; "hey" is spelled in characters.
    assert batch.context["pieces"] == [["hello", f"{SPACE}there"], ["hey"]]
    assert batch.context["lengths"] == [2, 3]
    assert batch.features["ids"].dtype == np.int32
    np.testing.assert_array_equal(batch.features["ids"][0], [31, 32, 0])
    np.testing.assert_array_equal(batch.features["paddings"], [[0, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(batch.context["piece_of_token"][1], [0, 0, 0])


def test_punctuator_marks_each_word_by_its_last_token(words) -> None:
    batch = words.encode(["hello there", "hey"])
    scores = np.zeros((2, 3, 4), np.float32)
    scores[0, 0, 1] = scores[0, 1, 2] = 1.0  # hello -> ",", there -> "."
    scores[1, :2, 3] = 1.0  # "?" on h and e only: not the word's last token
    scores[1, 2, 0] = 1.0
    answers = words.decode(batch, {"scores": scores})
    assert answers[0]["text"] == "hello, there."
    assert answers[0]["marks"] == [",", "."]
    assert answers[0]["scores"] == [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
    assert answers[1]["text"] == "hey" and answers[1]["marks"] == [""]


def test_text_without_words_has_nothing_to_punctuate(words) -> None:
    batch = words.encode(["?!"])
    assert batch.context["lengths"] == [0] and batch.features["paddings"].tolist() == [[1.0]]
    assert not words.needs_model(batch)
    (answer,) = words.decode(batch, {})
    assert answer == {"text": "", "marks": [], "scores": []}


def test_language_model_scores_tokens_then_end_of_sentence(chars) -> None:
    batch = chars.encode(["ab c", "z"])
    a, b, c, space = 4, 5, 6, 7
    np.testing.assert_array_equal(batch.features["ids"],
                                  [[BOS_ID, a, b, space, c], [BOS_ID, UNK_ID, 0, 0, 0]])
    np.testing.assert_array_equal(batch.features["labels"],
                                  [[a, b, space, c, EOS_ID], [UNK_ID, EOS_ID, 0, 0, 0]])
    np.testing.assert_array_equal(batch.features["paddings"][1], [0, 0, 1, 1, 1])
    scores = np.full((2, 5), -1.0, np.float32)
    scores[1, 2:] = 0.0
    predictions = np.array([[a, b, c, EOS_ID, space], [EOS_ID, a, 0, 0, 0]], np.int32)
    answers = chars.decode(batch, {"scores": scores, "predictions": predictions})
    assert answers[0]["log_prob"] == -5.0
    assert answers[0]["perplexity"] == pytest.approx(np.e)
    assert answers[1]["log_prob"] == -2.0 and answers[1]["scores"] == [-1.0, -1.0]
    # serving_default reads the prediction after the text's last token; ▁ reads " ".
    assert answers[0]["next_token"] == " "
    assert answers[1]["next_token"] == "a"


def test_language_model_refuses_text_without_tokens(chars) -> None:
    with pytest.raises(InputError, match="no tokens"):
        chars.encode(["  \t "])


def test_refuses_what_it_cannot_process(chars) -> None:
    with pytest.raises(InputError, match="expected a str, got int"):
        chars.encode([7])
    with pytest.raises(InputError, match="not UTF-8"):
        chars.encode([b"\xff"])
    with pytest.raises(KindError, match="postprocessing kind 'sentiment' is not supported"):
        kinds.load({"kind": "text", "tokenizer": "char"}, {"kind": "sentiment"}, {})
    with pytest.raises(KindError, match="tokenizer 'bpe' is not supported"):
        kinds.load({"kind": "text", "tokenizer": "bpe"}, LANGUAGE_MODEL, _vocab([]))
    with pytest.raises(KindError, match="a vocab starts with"):
        kinds.load({"kind": "text", "tokenizer": "char"}, LANGUAGE_MODEL,
                   {"vocab_file": b"a\nb\n"})
    with pytest.raises(KindError, match="needs its vocab_file"):
        kinds.load({"kind": "text", "tokenizer": "char"}, LANGUAGE_MODEL, {})
