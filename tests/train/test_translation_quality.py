"""Translation metrics and baselines: sacrebleu's scores, placeholder retention, and the
translation memory a translator's tool would offer."""

from liveri.train.tasks import translation_quality as quality


def test_scores_are_sacrebleu_corpus_bleu_and_chrf() -> None:
    refs = ["Die Datei wurde nicht gefunden.", "Speicher erschöpft"]
    assert quality.scores(refs, refs) == {"bleu": 100.0, "chrf": 100.0}
    worse = quality.scores(["Die Datei nicht gefunden.", "Speicher voll"], refs)
    assert 0 < worse["bleu"] < 100 and 0 < worse["chrf"] < 100


def test_placeholders_kept_counts_only_sources_with_placeholders() -> None:
    sources = ["%s: no such file", "cannot open %s (%d)", "plain"]
    hypotheses = ["%s: Datei fehlt", "kann %s nicht öffnen", "einfach"]
    assert quality.placeholders_kept(sources, hypotheses) == 0.5
    assert quality.placeholders_kept(["plain"], ["einfach"]) == 0.0


def test_translation_memory_offers_the_target_of_the_nearest_source() -> None:
    train_sources = ["file not found", "memory exhausted", "invalid option -- '%c'"]
    train_targets = ["Datei nicht gefunden", "Speicher erschöpft", "ungültige Option -- '%c'"]
    found = quality.translation_memory(
        train_sources, train_targets, ["File not found.", "invalid option '%c'", "memory"])
    assert found == ["Datei nicht gefunden", "ungültige Option -- '%c'", "Speicher erschöpft"]
