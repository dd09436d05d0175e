"""Beam search in numpy over a decoder-step model, for runtimes whose graphs hold no loop.

LiteRT with builtin ops only, and ONNX as tf2onnx converts, run a translator as two calls: encode
once, then one decoder step per position with its cache as inputs and outputs. This loop is the
graph's beam search (`liveri.train.layers.beam_search`) step for step: the same candidates
(2 x beam per example), the same GNMT length penalty, end by </s> or by each example's own
length limit, the same copy constraint (placeholder tokens as often as in the source), ties
broken toward the lower index as `tf.math.top_k` does. So a float artifact
translates as `serving_default` does (tested). No library offers this loop over an arbitrary
step model (TFLite and ONNX Runtime have none), hence here, by hand.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

_DEAD = -1e9  # as the graph's: a score no real hypothesis reaches

# (ids [N], cache {name: [N, ...]}, step) -> (log_probs [N, vocab], updated cache entries)
StepFn = Callable[[np.ndarray, dict[str, np.ndarray], int],
                  tuple[np.ndarray, dict[str, np.ndarray]]]


@dataclass(frozen=True)
class BeamParams:
    beam_size: int
    sos_id: int
    eos_id: int
    length_normalization: float
    copy_ids: tuple[int, ...] = ()

    def owed(self, source_ids: np.ndarray) -> np.ndarray:
        """[B, P]: how often each copy token occurs in each source."""
        return np.sum(source_ids[:, :, None] == np.asarray(self.copy_ids, np.int32), 1,
                      dtype=np.int32)

    def banned(self, owed: np.ndarray, vocab: int, positions_left: np.ndarray) -> np.ndarray:
        """[B, beam, vocab]: used-up copy tokens, </s> while a copy token is owed, and all but
        owed tokens when `positions_left` [B] are no more than the tokens owed."""
        must_copy = np.sum(owed, -1) >= positions_left[:, None]
        banned = np.repeat(must_copy[:, :, None], vocab, 2)
        banned[:, :, list(self.copy_ids)] = owed <= 0
        banned[:, :, self.eos_id] |= np.any(owed > 0, -1)
        return banned

    def penalty(self, length: np.ndarray | int) -> np.ndarray:
        return np.power((5.0 + np.asarray(length, np.float32)) / 6.0,
                        np.float32(self.length_normalization)).astype(np.float32)


def top_k(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(values, indices) of the k largest of each row, largest first, ties lower index first."""
    order = np.argsort(-x, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(x, order, 1), order


def search(step_fn: StepFn, cache: dict[str, np.ndarray], limits: np.ndarray,
           p: BeamParams, source_ids: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Decode len(limits) examples, example i at most limits[i] positions; `cache` entries have
    the batch first and are tiled per beam, then reordered as beams are chosen. `source_ids`
    [B, S] say how often each of `p.copy_ids` must occur. Returns ids
    [B, beam, max(limits)], lengths [B, beam] and scores [B, beam], best first."""
    batch, beam = len(limits), p.beam_size
    max_len = int(np.max(limits))
    cache = {k: np.repeat(v, beam, axis=0) for k, v in cache.items()}
    offsets = np.arange(batch)[:, None] * beam
    last = np.full([batch, beam], p.sos_id, np.int32)
    alive_ids = np.zeros([batch, beam, max_len], np.int32)
    alive_logp = np.tile(np.array([[0.0] + [_DEAD] * (beam - 1)], np.float32), [batch, 1])
    fin_ids = np.zeros_like(alive_ids)
    fin_scores = np.full([batch, beam], _DEAD, np.float32)
    fin_lengths = np.zeros([batch, beam], np.int32)
    owed = np.zeros([batch, len(p.copy_ids)], np.int32)
    if source_ids is not None:
        owed = p.owed(source_ids)
    owed = np.repeat(owed[:, None], beam, 1)
    t = 0
    while t < max_len:
        best_possible = alive_logp[:, 0] / p.penalty(max_len)
        if np.all((fin_scores[:, -1] > _DEAD / 2) & (best_possible < fin_scores[:, -1])):
            break
        log_probs, cache = step_fn(last.reshape(-1), cache, t)
        vocab = log_probs.shape[-1]
        log_probs = np.where(p.banned(owed, vocab, limits - t), np.float32(_DEAD),
                             log_probs.reshape(batch, beam, vocab).astype(np.float32))
        candidates = alive_logp[:, :, None] + log_probs
        cand_logp, flat = top_k(candidates.reshape(batch, -1), 2 * beam)
        cand_beam, cand_token = flat // vocab, (flat % vocab).astype(np.int32)
        cand_ids = np.take_along_axis(alive_ids, cand_beam[:, :, None], 1)
        cand_ids[:, :, t] = cand_token
        cand_owed = (np.take_along_axis(owed, cand_beam[:, :, None], 1)
                     - (cand_token[:, :, None] == np.asarray(p.copy_ids, np.int32)))
        ends = (cand_token == p.eos_id) | (t >= limits[:, None] - 1)

        in_beam = np.arange(2 * beam)[None, :] < beam
        new_scores = np.where(ends & in_beam, cand_logp / p.penalty(t + 1), _DEAD)
        fin_scores, keep = top_k(np.concatenate([fin_scores, new_scores], 1), beam)
        fin_ids = np.take_along_axis(np.concatenate([fin_ids, cand_ids], 1), keep[:, :, None], 1)
        fin_lengths = np.take_along_axis(np.concatenate(
            [fin_lengths, np.full_like(new_scores, t + 1, np.int32)], 1), keep, 1)

        alive_logp, keep = top_k(np.where(ends, _DEAD, cand_logp).astype(np.float32), beam)
        alive_ids = np.take_along_axis(cand_ids, keep[:, :, None], 1)
        owed = np.take_along_axis(cand_owed, keep[:, :, None], 1)
        last = np.take_along_axis(cand_token, keep, 1)
        parents = (np.take_along_axis(cand_beam, keep, 1) + offsets).reshape(-1)
        if np.any(parents != np.arange(len(parents))):  # most steps keep every beam's parent
            cache = {k: v[parents] for k, v in cache.items()}
        t += 1
    scores = np.concatenate([fin_scores, alive_logp / p.penalty(t)], 1)
    ids = np.concatenate([fin_ids, alive_ids], 1)
    lengths = np.concatenate([fin_lengths, np.full_like(fin_lengths, t)], 1)
    scores, keep = top_k(scores, beam)
    return {"ids": np.take_along_axis(ids, keep[:, :, None], 1),
            "lengths": np.take_along_axis(lengths, keep, 1), "scores": scores}


# What a step-decoded artifact's `signature` says: its two signatures, called in this order.
STEP_SIGNATURES = "encode+decode_step"


class StepDecoder:
    """A translator artifact with no loop inside (`encode` and `decode_step` signatures) as one
    model: src_ids, src_paddings -> the best hypothesis's `ids` and `scores`, like the
    SavedModel's `features`. `decoding` is the postprocessing spec's `decoding` entry."""

    input_dtypes = {"src_ids": np.dtype(np.int32), "src_paddings": np.dtype(np.float32)}
    output_names = ["ids", "scores"]

    def __init__(self, encode: Callable[..., dict[str, np.ndarray]],
                 decode_step: Callable[..., dict[str, np.ndarray]], decoding: dict) -> None:
        self.encode, self.decode_step = encode, decode_step
        # Both signatures' tensor details as `signature/name` (as the manifest lists them).
        self.inputs = {f"{name}/{k}": v for name, part in self._parts() for k, v in
                       getattr(part, "inputs", {}).items()}
        self.outputs = {f"{name}/{k}": v for name, part in self._parts() for k, v in
                        getattr(part, "outputs", {}).items()}
        self.beam = BeamParams(decoding["beam_size"], decoding["sos_id"], decoding["eos_id"],
                               decoding["length_normalization"],
                               tuple(decoding.get("copy_ids", ())))
        self.ratio = np.float32(decoding["decode_length_ratio"])
        self.max_length = int(decoding["max_decode_length"])

    def with_beam(self, beam_size: int) -> StepDecoder:
        """The same model decoding at another beam size (1: greedy)."""
        other = copy.copy(self)
        other.beam = dataclasses.replace(self.beam, beam_size=beam_size)
        return other

    def _parts(self) -> list[tuple[str, Any]]:
        return [("encode", self.encode), ("decode_step", self.decode_step)]

    def limits(self, src_paddings: np.ndarray) -> np.ndarray:
        """Each message's decode limit, computed as the graph computes it."""
        lengths = np.sum(1.0 - src_paddings.astype(np.float32), axis=1, dtype=np.float32)
        return np.minimum(np.ceil(self.ratio * lengths).astype(np.int32) + 10, self.max_length)

    def __call__(self, src_ids: np.ndarray, src_paddings: np.ndarray) -> dict[str, np.ndarray]:
        cross = self.encode(src_ids=src_ids, src_paddings=src_paddings)["cross_cache"]
        limits = self.limits(src_paddings)
        own = np.zeros((cross.shape[0], cross.shape[1], 2, int(limits.max()), *cross.shape[4:]),
                       np.float32)
        # The source side is the same for every beam of a message: tiled once, never reordered.
        beam = self.beam.beam_size
        source = {"src_paddings": np.repeat(src_paddings, beam, 0),
                  "cross_cache": np.repeat(cross, beam, 0)}

        def step(ids: np.ndarray, cache: dict[str, np.ndarray], t: int):
            out = self.decode_step(ids=ids.astype(np.int32), step=np.array(t, np.int32),
                                   self_cache=cache["self_cache"], **source)
            return out["log_probs"], {"self_cache": out["self_cache"]}

        found = search(step, {"self_cache": own}, limits, self.beam, src_ids)
        return {"ids": found["ids"][:, 0], "scores": found["scores"][:, 0]}
