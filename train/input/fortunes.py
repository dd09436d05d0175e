"""English prose from Debian's `fortunes` packages, as fixed train/dev/test sentence files.

The text experiments (punctuation, language modelling, speech) all read these sentences. They are
cleaned once (see `prose`), deduplicated, assigned to a split by the seeded hash of their text and
written under the data cache, so every run and every worker sees the same corpus.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from liveri.train.input import data_cache, prose
from liveri.train.input.base_input import SPLITS, BaseInput

from liveri.errors import UsageError
from liveri.fileio import atomic_write_text
from liveri.params import Params

FORTUNES_DIR = "/usr/share/games/fortunes"
DEB_PACKAGES = ("fortunes", "fortunes-min")
CORPUS_VERSION = 1


def fortune_files(fortunes_dir: str) -> list[Path]:
    """The fortune text files (not their `.dat` indexes or `.u8` links), in a fixed order."""
    root = Path(fortunes_dir)
    if not root.is_dir():
        return []
    return sorted(f for f in root.iterdir() if f.is_file() and not f.suffix)


def missing_package_error(fortunes_dir: str) -> UsageError:
    return UsageError(
        f"no fortune files in {fortunes_dir}: the text experiments read English prose from "
        f"Debian's {' and '.join(DEB_PACKAGES)} packages. Install them with "
        f"`sudo apt-get install -y {' '.join(DEB_PACKAGES)}` (or run scripts/setup.sh), "
        f"or set input.fortunes_dir to a directory of fortune files."
    )


class FortunesInput(BaseInput):
    """Sentences of the fortunes corpus; `Examples(split)` gives them as {"text": [N] str}."""

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.dev_fraction = 0.1
        p.test_fraction = 0.1
        p.Define("data_dir", "", f"Data cache root; empty: ${data_cache.DATA_DIR_ENV} or "
                 f"{data_cache.DEFAULT_DATA_DIR}.")
        p.Define("fortunes_dir", FORTUNES_DIR, "Where Debian's fortunes packages put the text.")
        p.Define("min_words", 3, "Shortest sentence kept, in words.")
        p.Define("max_words", 30, "Longest sentence kept, in words.")
        p.Define("max_chars", 200, "Longest sentence kept, in characters.")
        return p

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self._sentences: dict[str, list[str]] = {}

    def CorpusDir(self) -> Path:
        """The directory of train.txt, dev.txt and test.txt; built on first use."""
        p = self.params
        settings = (f"v{CORPUS_VERSION} {p.fortunes_dir} {p.split_seed} {p.dev_fraction} "
                    f"{p.test_fraction} {p.min_words} {p.max_words} {p.max_chars}")
        corpus_dir = data_cache.data_root(p.data_dir) / f"fortunes-{data_cache.cache_key(settings)}"
        if not corpus_dir.is_dir():
            files = fortune_files(p.fortunes_dir)
            if not files:
                raise missing_package_error(p.fortunes_dir)
            data_cache.build_once(corpus_dir, lambda tmp: self._WriteCorpus(tmp, files, settings))
        return corpus_dir

    def _WriteCorpus(self, out_dir: Path, files: list[Path], settings: str) -> None:
        p = self.params
        sentences: set[str] = set()
        for f in files:
            text = f.read_bytes().decode("utf-8", errors="replace")
            sentences.update(prose.sentences_of(text, p.min_words, p.max_words, p.max_chars))
        by_split: dict[str, list[tuple[bytes, str]]] = {s: [] for s in SPLITS}
        for sentence in sentences:
            key = sentence.encode()
            by_split[self.SplitOf(key)].append((self._OrderKey(key), sentence))
        counts = {}
        for split, rows in by_split.items():
            rows.sort()
            atomic_write_text(out_dir / f"{split}.txt", "".join(s + "\n" for _, s in rows))
            counts[split] = len(rows)
        info = {"settings": settings, "sentences": counts, "files": [f.name for f in files]}
        atomic_write_text(out_dir / "corpus.json", json.dumps(info, indent=2) + "\n")

    def _OrderKey(self, key: bytes) -> bytes:
        """A seeded order within a split, so any prefix of a split file is a random sample."""
        return hashlib.sha256(f"order:{self.params.split_seed}:".encode() + key).digest()

    def Sentences(self, split: str) -> list[str]:
        """The sentences of `split`, in the corpus's fixed (seeded random) order."""
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        if split not in self._sentences:
            path = self.CorpusDir() / f"{split}.txt"
            self._sentences[split] = path.read_text().splitlines()
        return self._sentences[split]

    def Examples(self, split: str) -> dict[str, np.ndarray]:
        return {"text": np.array(self.Sentences(split), dtype=object)}
