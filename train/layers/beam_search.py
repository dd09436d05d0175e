"""Beam search over any autoregressive decoder that extends one position at a time with a
cache (e.g. `TransformerDecoder.ExtendStep`), with length normalization and end-of-sequence.

Optionally constrained to copy: tokens in `copy_ids` (a translator's placeholder tokens) appear
in each hypothesis exactly as often as in its source. A copy token is banned once its count is
used up (so one the source lacks never appears), end-of-sequence is banned while one is owed,
and when only as many positions are left before the length limit as tokens are owed, only owed
ones may come: so every hypothesis, even one cut by the limit, holds them all. Training never
sees this: it is a rule of the product (a translation that loses `%s` crashes the program
printing it), not a model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from liveri.train.layers.base_layer import BaseLayer

from liveri.lazy import tf
from liveri.params import Params

# A log probability no real hypothesis reaches: marks empty or dead slots.
_DEAD = -1e9

StepFn = Callable[[Any, Any, Any], tuple[Any, Any]]


class BeamSearch(BaseLayer):
    """Keeps the `beam_size` best prefixes; a prefix ending in `eos_id` (while among the best
    `beam_size` extensions) is finished and scored log p / ((5 + length) / 6) ^ alpha."""

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("beam_size", 4, "Hypotheses kept per example.")
        p.Define("max_decode_length", 32, "Most positions decoded (including end-of-sequence).")
        p.Define("sos_id", 1, "Token fed at position 0.")
        p.Define("eos_id", 2, "Token that finishes a hypothesis.")
        p.Define("length_normalization", 0.0,
                 "alpha of the GNMT length penalty; 0 ranks by raw log probability.")
        return p

    def LengthPenalty(self, length: Any) -> Any:
        alpha = self.params.length_normalization
        return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, alpha)

    def _Banned(self, owed: Any, copy_ids: Any, vocab: Any, positions_left: Any) -> Any:
        """[B, beam, vocab]: copy tokens whose count is used up, end-of-sequence while a copy
        token is owed, and every token but owed ones when `positions_left` [B] (this one
        included) are no more than the tokens owed."""
        copy_hot = tf.one_hot(copy_ids, vocab)
        is_owed = tf.einsum("bkp,pv->bkv", tf.cast(owed > 0, tf.float32), copy_hot) > 0
        is_copy = tf.reduce_any(copy_hot > 0, 0)
        is_eos = tf.equal(tf.range(vocab), self.params.eos_id)
        owing = tf.reduce_any(owed > 0, -1)[:, :, tf.newaxis]
        must_copy = (tf.reduce_sum(owed, -1) >= positions_left[:, tf.newaxis])[:, :, tf.newaxis]
        return ((is_copy | must_copy) & ~is_owed) | (owing & is_eos)

    def FProp(self, step_fn: StepFn, cache: Any, batch_size: Any, max_lengths: Any = None,
              copy_ids: Any = (), source_ids: Any = None) -> dict[str, Any]:
        """Decode `batch_size` examples, example i at most `max_lengths[i]` positions (default
        and upper bound: max_decode_length; the cache must hold the longest). Per example, so
        an answer does not depend on what else is in its batch.
        `step_fn(ids [N], cache, step) -> (logits [N, V], cache)` with N = batch_size *
        beam_size; `cache` (a nest of tensors with the batch first) is tiled per beam and
        reordered as beams are chosen. With `copy_ids` [P], each hypothesis holds each copy
        token as often as `source_ids` [B, S] do (as the module docstring says).

        Returns ids [B, beam, max(max_lengths)] (0 after the end), lengths [B, beam] (with the
        eos) and scores [B, beam], best first; hypotheses alive at the length limit compete as
        finished ones."""
        p = self.params
        beam, max_len = p.beam_size, p.max_decode_length
        limits = tf.fill([batch_size], max_len)
        if max_lengths is not None:
            limits = tf.minimum(tf.cast(max_lengths, tf.int32), max_len)
            max_len = tf.reduce_max(limits)
        at_limit_after = limits[:, tf.newaxis] - 1  # the step whose extensions must end
        cache = tf.nest.map_structure(lambda x: tf.repeat(x, beam, axis=0), cache)
        batch_offsets = tf.range(batch_size)[:, tf.newaxis] * beam
        copy_ids = tf.constant(copy_ids, tf.int32, shape=[len(copy_ids)])
        owed = tf.zeros([batch_size, len(copy_ids)], tf.int32)
        if source_ids is not None:
            owed = tf.reduce_sum(tf.cast(tf.equal(
                tf.cast(source_ids, tf.int32)[:, :, tf.newaxis], copy_ids), tf.int32), 1)

        def Cond(t: Any, last: Any, alive_ids: Any, alive_logp: Any, fin_ids: Any,
                 fin_scores: Any, fin_lengths: Any, owed: Any, cache: Any) -> Any:
            best_possible = alive_logp[:, 0] / self.LengthPenalty(max_len)
            done = (fin_scores[:, -1] > _DEAD / 2) & (best_possible < fin_scores[:, -1])
            return (t < max_len) & tf.logical_not(tf.reduce_all(done))

        def Body(t: Any, last: Any, alive_ids: Any, alive_logp: Any, fin_ids: Any,
                 fin_scores: Any, fin_lengths: Any, owed: Any, cache: Any) -> tuple:
            logits, cache = step_fn(tf.reshape(last, [-1]), cache, t)
            vocab = tf.shape(logits)[-1]
            logp = tf.reshape(tf.nn.log_softmax(tf.cast(logits, tf.float32)),
                              [batch_size, beam, vocab])
            logp = tf.where(self._Banned(owed, copy_ids, vocab, limits - t), _DEAD, logp)
            candidates = tf.reshape(alive_logp[:, :, tf.newaxis] + logp, [batch_size, -1])
            cand_logp, flat = tf.math.top_k(candidates, 2 * beam)
            cand_beam, cand_token = flat // vocab, flat % vocab
            at_t = tf.cast(tf.equal(tf.range(max_len), t), tf.int32)
            cand_ids = (tf.gather(alive_ids, cand_beam, batch_dims=1) * (1 - at_t)
                        + cand_token[:, :, tf.newaxis] * at_t)
            cand_owed = tf.gather(owed, cand_beam, batch_dims=1) - tf.cast(
                tf.equal(cand_token[:, :, tf.newaxis], copy_ids), tf.int32)
            # Ended: by eos, or by the example's length limit (as if eos followed).
            is_eos = tf.equal(cand_token, p.eos_id) | (t >= at_limit_after)

            # Finished: ended extensions among the best `beam`, merged with earlier ones.
            in_beam = tf.range(2 * beam)[tf.newaxis, :] < beam
            new_scores = tf.where(is_eos & in_beam, cand_logp / self.LengthPenalty(t + 1), _DEAD)
            all_scores = tf.concat([fin_scores, new_scores], 1)
            all_ids = tf.concat([fin_ids, cand_ids], 1)
            all_lengths = tf.concat([fin_lengths, tf.fill(tf.shape(new_scores), t + 1)], 1)
            fin_scores, keep = tf.math.top_k(all_scores, beam)
            fin_ids = tf.gather(all_ids, keep, batch_dims=1)
            fin_lengths = tf.gather(all_lengths, keep, batch_dims=1)

            # Alive: the best `beam` extensions that did not end.
            alive_logp, keep = tf.math.top_k(tf.where(is_eos, _DEAD, cand_logp), beam)
            alive_ids = tf.gather(cand_ids, keep, batch_dims=1)
            owed = tf.gather(cand_owed, keep, batch_dims=1)
            last = tf.gather(cand_token, keep, batch_dims=1)
            parents = tf.reshape(tf.gather(cand_beam, keep, batch_dims=1) + batch_offsets, [-1])
            cache = tf.nest.map_structure(lambda x: tf.gather(x, parents), cache)
            return (t + 1, last, alive_ids, alive_logp, fin_ids, fin_scores, fin_lengths, owed,
                    cache)

        ids0 = tf.zeros([batch_size, beam, max_len], tf.int32)
        first_alive = tf.constant([[0.0] + [_DEAD] * (beam - 1)])
        state = (
            tf.constant(0), tf.fill([batch_size, beam], p.sos_id), ids0,
            tf.tile(first_alive, [batch_size, 1]), ids0, tf.fill([batch_size, beam], _DEAD),
            tf.zeros([batch_size, beam], tf.int32), tf.repeat(owed[:, tf.newaxis], beam, 1),
            cache,
        )
        t, _, alive_ids, alive_logp, fin_ids, fin_scores, fin_lengths, _, _ = tf.while_loop(
            Cond, Body, state)
        # Hypotheses still alive at the end compete too, as if ended by the length limit.
        scores = tf.concat([fin_scores, alive_logp / self.LengthPenalty(t)], 1)
        ids = tf.concat([fin_ids, alive_ids], 1)
        lengths = tf.concat([fin_lengths, tf.fill(tf.shape(fin_lengths), t)], 1)
        scores, keep = tf.math.top_k(scores, beam)
        return {
            "ids": tf.gather(ids, keep, batch_dims=1),
            "lengths": tf.gather(lengths, keep, batch_dims=1),
            "scores": scores,
        }
