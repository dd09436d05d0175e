"""How good translations are, and what they are compared with.

- BLEU and chrF come from sacrebleu with its defaults (13a tokenization, exponential smoothing;
  chrF's character 6-grams, beta 2) on raw text, so the figures compare with published ones.
- `placeholders_kept`: of the sources with a placeholder, the share whose translation holds
  exactly the same placeholders (any order): a message that loses `%s` breaks its program.
- Baselines: a translation memory (what translators' tools offer: the target of the most
  similar training source, by cosine of character n-gram TF-IDF vectors, scikit-learn's), and
  copying the source (a floor: names, paths and options pass through untranslated).
"""

from __future__ import annotations

from typing import Any

from liveri.placeholders import placeholders, same_placeholders

# Character n-grams of the translation memory (within words and their edges, as `char_wb`).
MEMORY_NGRAMS = (2, 4)
_baseline_cache: dict[tuple, dict[str, float]] = {}


def scores(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """{"bleu", "chrf"} of the hypotheses against one reference each (corpus level)."""
    import sacrebleu

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    return {"bleu": round(sacrebleu.corpus_bleu(hypotheses, [references]).score, 2),
            "chrf": round(sacrebleu.corpus_chrf(hypotheses, [references]).score, 2)}


def placeholders_kept(sources: list[str], hypotheses: list[str]) -> float:
    """Of the sources with placeholders, the share translated with exactly the same ones."""
    kept = [same_placeholders(s, h) for s, h in zip(sources, hypotheses) if placeholders(s)]
    return round(sum(kept) / max(len(kept), 1), 4)


def translation_memory(train_sources: list[str], train_targets: list[str],
                       sources: list[str]) -> list[str]:
    """For each source, the target of the training source nearest by TF-IDF cosine."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=MEMORY_NGRAMS,
                                 sublinear_tf=True, lowercase=False)
    memory = vectorizer.fit_transform(train_sources)
    queries = vectorizer.transform(sources)
    nearest = (queries @ memory.T).argmax(axis=1).A1  # rows are L2-normalized: cosine
    return [train_targets[i] for i in nearest]


def baselines(inp: Any, split: str) -> dict[str, float]:
    """BLEU and chrF of the translation memory and of copying, on `split` (cached: they depend
    on the data only)."""
    key = (inp.Fingerprint()["sha256"], split)
    if key not in _baseline_cache:
        train = inp.Pairs("train")
        pairs = inp.Pairs(split)
        sources = [p.source for p in pairs]
        references = [p.target for p in pairs]
        memory = translation_memory([p.source for p in train], [p.target for p in train],
                                    sources)
        out = {f"{k}_memory": v for k, v in scores(memory, references).items()}
        out.update({f"{k}_copy": v for k, v in scores(sources, references).items()})
        _baseline_cache[key] = out
    return dict(_baseline_cache[key])
