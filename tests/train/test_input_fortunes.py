"""The fortunes corpus: built once from the installed package, split the same way every time."""

import os

import pytest
from liveri.train.input import prose
from liveri.train.input.fortunes import FortunesInput, fortune_files

from liveri.errors import UsageError

pytestmark = pytest.mark.skipif(not fortune_files("/usr/share/games/fortunes"),
                                reason="Debian's fortunes package is not installed")


def corpus(data_dir, **overrides) -> FortunesInput:
    p = FortunesInput.Params()
    p.data_dir = str(data_dir)
    p.Set(**overrides)
    return p.Instantiate()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def test_splits_are_disjoint_and_sized(data_dir):
    inp = corpus(data_dir)
    splits = {s: inp.Sentences(s) for s in ("train", "dev", "test")}
    assert len(splits["train"]) > 8000 and len(splits["dev"]) > 1000 and len(splits["test"]) > 1000
    sets = {s: set(v) for s, v in splits.items()}
    assert not sets["train"] & sets["dev"] and not sets["train"] & sets["test"]
    assert not sets["dev"] & sets["test"]
    assert all(len(v) == len(sets[s]) for s, v in splits.items()), "sentences are deduplicated"


def test_same_seed_same_split_other_seed_other_split(data_dir, tmp_path):
    again = corpus(tmp_path)
    assert again.Sentences("test") == corpus(data_dir).Sentences("test")
    reseeded = corpus(data_dir, split_seed=1)
    assert set(reseeded.Sentences("test")) != set(again.Sentences("test"))


def test_cache_is_built_once(data_dir):
    inp = corpus(data_dir)
    first = inp.CorpusDir()
    stamp = {f.name: os.stat(f).st_mtime_ns for f in first.iterdir()}
    assert corpus(data_dir).CorpusDir() == first
    assert {f.name: os.stat(f).st_mtime_ns for f in first.iterdir()} == stamp
    assert not [f for f in first.parent.iterdir() if ".partial-" in f.name]


def test_sentences_are_clean_prose(data_dir):
    for sentence in corpus(data_dir).Sentences("dev"):
        assert sentence.isascii() and sentence[0].isupper() and sentence[-1] in ".!?"
        assert 3 <= len(sentence.split()) <= 30 and "  " not in sentence
        assert "--" not in sentence


def test_cleaning_drops_attributions_code_and_verse():
    text = ("A friend is a present you give yourself.\n\t\t-- Robert Louis Stevenson\n%\n"
            "int main() { return 0; }\n%\n"
            "Roses are red,\nViolets are blue,\nSugar is sweet,\nAnd so are you.\n%\n"
            "Q: Why did it happen?\nA: Because.\n%\n"
            "Never trust a computer.  You can't throw it out a window.\n")
    assert prose.sentences_of(text, 3, 30, 200) == [
        "A friend is a present you give yourself.", "Never trust a computer.",
        "You can't throw it out a window."]


def test_missing_package_names_it_and_the_install_command(tmp_path):
    empty = tmp_path / "fortunes"
    empty.mkdir()
    inp = corpus(tmp_path / "data", fortunes_dir=str(empty))
    with pytest.raises(UsageError) as error:
        inp.Sentences("train")
    message = str(error.value)
    assert "fortunes" in message and "apt-get install" in message and str(empty) in message
