"""The SavedModel's in-graph placeholder protection and restoration equal the numpy rules devices
run, on every held-out message and the edge cases of the pattern."""

import pytest
from liveri.train.input.gettext_corpus import load_corpus
from liveri.train.input.placeholders_tf import protect_tf, restore_tf

from liveri.placeholders import protect, restore

EDGES = ["", "%%", "100%% of {{x}} and %s", "{0}{1}{}", "$HOME/${X}", "%1$s %2$*3$d %.*s %lu",
         "%(name)s: %(count)d", "only text", "⟦0⟧ already a token", "Größe %s ä"]


@pytest.fixture(scope="module")
def messages(tmp_path_factory) -> list[str]:
    corpus = load_corpus(str(tmp_path_factory.mktemp("mt")))
    held_out = corpus.splits["dev"] + corpus.splits["test"]
    return [p.source for p in held_out] + [p.target for p in held_out] + EDGES


def test_graph_protects_like_numpy(messages) -> None:
    import tensorflow as tf

    protected, numbered = protect_tf(tf.constant(messages))
    graph = [(p.decode(), [x.decode() for x in n])
             for p, n in zip(protected.numpy(), numbered.to_list())]
    assert graph == [protect(m) for m in messages]
    assert sum(bool(n) for _, n in graph) > 1000  # the corpus is full of placeholders


def test_graph_restores_like_numpy_including_invented_tokens(messages) -> None:
    import tensorflow as tf

    pairs = [protect(m) for m in messages]
    odd = [("⟦0⟧ und ⟦1⟧", ["%s"]), ("⟦7⟧x", []), ("⟦99999999999⟧", ["%d"]), ("a⟦0⟧⟦0⟧", ["%s"])]
    texts = [t for t, _ in pairs + odd]
    numbered = tf.ragged.constant([n for _, n in pairs + odd], dtype=tf.string,
                                  row_splits_dtype=tf.int64)
    graph = [t.decode() for t in restore_tf(tf.constant(texts), numbered).numpy()]
    assert graph == [restore(t, n) for t, n in pairs + odd]
    # A round trip, but for a message that already held a token (the corpus drops those).
    assert [g for g, m in zip(graph, messages) if "⟦" not in m] == \
        [m for m in messages if "⟦" not in m]
    assert graph[len(messages):] == ["%s und ", "x", "", "a%s%s"]
