"""Batching variable-length examples by length, so a batch wastes little on padding.

Examples go to the bucket of their length and are padded to the bucket's bound, so the model
sees a handful of shapes (few retraces) and little padding. Lengths above the last bound form
one more bucket, padded to its longest example.
"""

from __future__ import annotations

from typing import Any

from liveri.lazy import tf


def geometric_boundaries(max_length: int, smallest: int = 8, growth: float = 1.4) -> list[int]:
    """Bucket bounds from `smallest` up to `max_length`, each about `growth` times the last."""
    bounds = [smallest]
    while bounds[-1] < max_length:
        bounds.append(min(max_length, max(bounds[-1] + 1, int(round(bounds[-1] * growth)))))
    return bounds


def bucket_by_length(ds: Any, length_keys: tuple[str, ...], boundaries: list[int],
                     batch_size: int, drop_remainder: bool) -> Any:
    """Batches of `ds` (dicts of tensors) grouped by the longest of `length_keys`' first axis.

    `length_keys` are padded to the bucket bound; other keys to the longest in the batch.
    Keys named `*paddings` pad with 1.0 (Lingvo's convention), all others with 0 (<pad>).
    """
    bounds = tf.constant(list(boundaries), tf.int64)
    padded_lengths = tf.concat([bounds, [-1]], axis=0)
    spec = ds.element_spec

    def length(example: dict[str, Any]) -> Any:
        return tf.reduce_max(tf.stack([tf.shape(example[k], tf.int64)[0] for k in length_keys]))

    def bucket(example: dict[str, Any]) -> Any:
        return tf.reduce_sum(tf.cast(length(example) > bounds, tf.int64))

    def batch(key: Any, window: Any) -> Any:
        bucket_length = padded_lengths[key]
        shapes = {}
        for name, s in spec.items():
            rest = [-1 if d is None else d for d in s.shape[1:]]
            first = bucket_length if name in length_keys else tf.constant(-1, tf.int64)
            shapes[name] = tf.concat([[first], tf.constant(rest, tf.int64)], 0) if s.shape.rank \
                else tf.TensorShape([])
        values = {name: tf.constant(1 if name.endswith("paddings") else 0, s.dtype)
                  for name, s in spec.items()}
        return window.padded_batch(batch_size, padded_shapes=shapes, padding_values=values,
                                   drop_remainder=drop_remainder)

    return ds.group_by_window(key_func=bucket, reduce_func=batch, window_size=batch_size)
