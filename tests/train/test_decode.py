"""Decoding: CTC loss and greedy/beam decoding, and beam search over a Transformer decoder."""

import numpy as np
import pytest
import tensorflow as tf
from liveri.train.layers import BeamSearch, CtcLoss, TransformerDecoder

BLANK = 0


def _peaky(alignment, vocab=6):
    return tf.one_hot(alignment, vocab) * 12.0


def test_ctc_greedy_decode_of_a_known_alignment():
    ctc = CtcLoss.Params().Instantiate()
    # Repeats merge, blanks separate repeats, padded frames are ignored.
    alignment = [[1, 1, BLANK, 2, 2, BLANK, 1, 3], [4, BLANK, 4, 4, 5, 5, 5, 5]]
    paddings = tf.constant([[0.0] * 8, [0.0] * 4 + [1.0] * 4])
    ids, lengths = ctc.GreedyDecode(_peaky(alignment), paddings)
    np.testing.assert_array_equal(ids.numpy(), [[1, 2, 1, 3], [4, 4, -1, -1]])
    np.testing.assert_array_equal(lengths.numpy(), [4, 2])


@pytest.mark.parametrize("blank", [0, 3, 5])
def test_ctc_beam_decode_agrees_with_greedy_on_peaky_logits(blank):
    ctc = CtcLoss.Params().Set(blank_index=blank, beam_width=4, top_paths=2).Instantiate()
    labels = [c for c in range(6) if c != blank]
    alignment = [[labels[0], blank, labels[1], labels[1], blank, labels[0]]]
    paddings = tf.zeros((1, 6))
    greedy, _ = ctc.GreedyDecode(_peaky(alignment), paddings)
    ids, lengths, log_probs = ctc.BeamDecode(_peaky(alignment), paddings)
    assert ids.shape[:2] == (1, 2) and log_probs.shape == (1, 2)
    np.testing.assert_array_equal(ids.numpy()[0, 0, :3], [labels[0], labels[1], labels[0]])
    np.testing.assert_array_equal(ids.numpy()[0, 0, :3], greedy.numpy()[0])
    assert lengths.numpy()[0, 0] == 3 and log_probs.numpy()[0, 0] > log_probs.numpy()[0, 1]


def test_ctc_loss_small_for_matching_labels_and_gradients_finite():
    ctc = CtcLoss.Params().Instantiate()
    logits = tf.Variable(_peaky([[1, 1, BLANK, 2, 2, BLANK, 1, 3]]))
    paddings = tf.zeros((1, 8))
    with tf.GradientTape() as tape:
        right = ctc(logits, paddings, tf.constant([[1, 2, 1, 3]]), tf.zeros((1, 4)))
    wrong = ctc(logits, paddings, tf.constant([[3, 2, 1, 1]]), tf.zeros((1, 4)))
    assert right.shape == (1,) and right.numpy()[0] < 0.01 < wrong.numpy()[0]
    assert np.isfinite(tape.gradient(right, logits).numpy()).all()


def _decoder():
    p = TransformerDecoder.Params().Set(vocab_size=9, model_dims=8, num_layers=2, init_scale=2.0)
    p.layer.Set(num_heads=2, source_dims=8)
    return p.Instantiate()


def _greedy(decoder, source, max_len, sos=1, eos=2):
    """Reference: argmax one position at a time, stopping each example at eos."""
    batch = source.shape[0]
    cache = decoder.InitCache(batch, max_len, source)
    last = tf.fill([batch], sos)
    out = np.zeros((batch, max_len), np.int32)
    ended = np.zeros(batch, bool)
    for t in range(max_len):
        logits, cache = decoder.ExtendStep(last, cache, tf.constant(t))
        last = tf.argmax(logits, -1, output_type=tf.int32)
        out[~ended, t] = last.numpy()[~ended]
        ended |= last.numpy() == eos
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_search_decode_with_beam_1_equals_greedy(seed):
    decoder = _decoder()
    source = tf.random.stateless_normal((4, 5, 8), (seed, 7))
    search = BeamSearch.Params().Set(beam_size=1, max_decode_length=7).Instantiate()
    result = search(decoder.ExtendStep, decoder.InitCache(4, 7, source), 4)
    np.testing.assert_array_equal(result["ids"].numpy()[:, 0], _greedy(decoder, source, 7))


def test_beam_search_decode_finds_better_or_equal_scores_than_greedy():
    decoder = _decoder()
    source = tf.random.stateless_normal((4, 5, 8), (3, 7))
    scores = {}
    for beam in (1, 4):
        search = BeamSearch.Params().Set(beam_size=beam, max_decode_length=6).Instantiate()
        result = tf.function(lambda s=search: s(decoder.ExtendStep,
                                                decoder.InitCache(4, 6, source), 4))()
        scores[beam] = result["scores"].numpy()
        assert result["ids"].shape == (4, beam, 6) and result["lengths"].shape == (4, beam)
    assert np.all(np.diff(scores[4], axis=1) <= 1e-6)  # best first
    assert np.all(scores[4][:, 0] >= scores[1][:, 0] - 1e-5)


class _ScriptedLm:
    """A fake decoder whose next-token distribution depends only on the step: at step 0 eos is
    likely, later a long continuation is likelier per token."""

    def __init__(self, table):
        self.table = tf.math.log(tf.constant(table, tf.float32))

    def __call__(self, ids, cache, step):
        logits = tf.tile(tf.gather(self.table, [step]), [tf.shape(ids)[0], 1])
        return logits, cache


def test_beam_search_decode_eos_ends_hypotheses_and_length_normalization_prefers_longer():
    # Tokens: 0 pad, 1 sos, 2 eos, 3 word. Step 0: eos 0.4 / word 0.6; after: word 0.9 / eos 0.1
    # at step 1 then eos 0.99 at step 2.
    table = [[1e-9, 1e-9, 0.4, 0.6], [1e-9, 1e-9, 0.1, 0.9], [1e-9, 1e-9, 0.99, 0.01],
             [1e-9, 1e-9, 0.99, 0.01]]
    lm = _ScriptedLm(table)
    cache = {"dummy": tf.zeros((1, 1))}
    raw = BeamSearch.Params().Set(beam_size=2, max_decode_length=4).Instantiate()
    result = raw(lm, cache, 1)
    ids, lengths = result["ids"].numpy()[0], result["lengths"].numpy()[0]
    # log p: [eos] = log .4 = -0.92; [word word eos] = log(.6*.9*.99) = -0.63: beam finds it.
    np.testing.assert_array_equal(ids[0], [3, 3, 2, 0])
    assert lengths[0] == 3
    np.testing.assert_allclose(result["scores"].numpy()[0, 0], np.log(0.6 * 0.9 * 0.99),
                               atol=1e-4)
    normalized = BeamSearch.Params().Set(beam_size=2, max_decode_length=4,
                                         length_normalization=1.0).Instantiate()
    score = normalized(lm, cache, 1)["scores"].numpy()[0, 0]
    np.testing.assert_allclose(score, np.log(0.6 * 0.9 * 0.99) / ((5 + 3) / 6), atol=1e-4)


def test_beam_search_answers_do_not_depend_on_the_batch():
    """Each example stops at its own length limit, so decoding it alone or beside longer ones
    gives the same hypothesis and score (a server batching requests must not change answers)."""
    decoder = _decoder()
    source = tf.random.stateless_normal((3, 5, 8), (5, 1))
    limits = tf.constant([3, 7, 5])
    search = BeamSearch.Params().Set(beam_size=3, max_decode_length=8).Instantiate()
    together = search(decoder.ExtendStep, decoder.InitCache(3, 7, source), 3, limits)
    assert together["ids"].shape == (3, 3, 7)
    for i in range(3):
        alone = search(decoder.ExtendStep, decoder.InitCache(1, int(limits[i]), source[i:i + 1]),
                       1, limits[i:i + 1])
        length = int(alone["lengths"][0, 0])
        assert length <= int(limits[i]) and int(together["lengths"][i, 0]) == length
        np.testing.assert_array_equal(together["ids"][i, 0, :length], alone["ids"][0, 0, :length])
        np.testing.assert_allclose(together["scores"][i, 0], alone["scores"][0, 0], atol=1e-5)


def _random_bigram_lm(vocab=9, steps=8, seed=0):
    """Next-token log probs from (last token, step) by a fixed random table, as a graph step
    and as a numpy step (the runner's beam search), so both loops can be compared."""
    table = np.random.default_rng(seed).normal(0, 3, (vocab, steps, vocab)).astype(np.float32)
    table[:, 3:, 2] += 4.0  # eos likely after a few tokens, so hypotheses end before the limit
    table[:, :, 5:7] += 2.0  # copy tokens (5, 6) plausible anywhere
    log_probs = table - np.log(np.exp(table).sum(-1, keepdims=True))

    def graph_step(ids, cache, step):
        return tf.gather(tf.constant(log_probs)[:, step], ids), cache

    def numpy_step(ids, cache, step):
        return log_probs[ids, step], cache

    return graph_step, numpy_step


def test_copy_constraint_holds_each_copy_token_as_often_as_the_source_in_graph_and_numpy():
    from liveri.artifact import beam_search

    copy_ids = [5, 6]
    # Sources (0 pads): owes 5 once; 6 twice; nothing (so 5 and 6 must never appear).
    source_ids = np.array([[5, 3, 0], [6, 4, 6], [3, 4, 0]], np.int32)
    graph_step, numpy_step = _random_bigram_lm()
    limits = np.array([8, 3, 8], np.int32)  # the second must copy from its second position
    search = BeamSearch.Params().Set(beam_size=3, max_decode_length=8,
                                     length_normalization=0.6).Instantiate()
    cache = {"unused": tf.zeros((3, 1))}
    free = search(graph_step, cache, 3, limits)
    kept = search(graph_step, cache, 3, limits, copy_ids, tf.constant(source_ids))
    for i, source in enumerate(source_ids):
        for beam in range(3):
            length = int(kept["lengths"][i, beam])
            hypothesis = list(kept["ids"][i, beam, :length].numpy())
            # Every hypothesis, even one cut by the length limit rather than ended by eos.
            assert [hypothesis.count(c) for c in copy_ids] == \
                [list(source).count(c) for c in copy_ids]
    # The unconstrained search breaks the rule somewhere, so the constraint did something.
    assert any([list(free["ids"][i, 0].numpy()).count(c) for c in copy_ids]
               != [list(source_ids[i]).count(c) for c in copy_ids] for i in range(3))

    params = beam_search.BeamParams(3, 1, 2, 0.6, tuple(copy_ids))
    mirror = beam_search.search(numpy_step, {"unused": np.zeros((3, 1))}, limits, params,
                                source_ids)
    np.testing.assert_array_equal(mirror["ids"], kept["ids"].numpy())
    np.testing.assert_allclose(mirror["scores"], kept["scores"].numpy(), rtol=1e-5)
