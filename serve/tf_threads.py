"""TensorFlow's process-wide thread pools, set from TF Serving's parallelism flags.

`--tensorflow_intra_op_parallelism` (threads one op may use) and
`--tensorflow_inter_op_parallelism` (ops run at a time) mean what they mean to
`tensorflow_model_server`, except that 0 inter-op threads means none: a model's ops then run in
the request's own thread (`loader.session_config`); 0 intra-op threads leaves TensorFlow's choice
(one per core). On a small machine serving small models, 1 intra-op thread is often faster: the
pool's threads spin and hand work over, which costs more than a small op takes. TensorFlow fixes
its pools when it first runs anything, so they are set before the first model loads; later, a
different setting is refused.
"""

from __future__ import annotations

import logging

from liveri.errors import UsageError

log = logging.getLogger("liveri.serve")


def set_parallelism(intra_op: int, inter_op: int) -> None:
    """Size TensorFlow's thread pools (0: TensorFlow's choice); UsageError once it is too late."""
    for flag, value in (("--tensorflow_intra_op_parallelism", intra_op),
                        ("--tensorflow_inter_op_parallelism", inter_op)):
        if value < 0:
            raise UsageError(f"{flag} must be >= 0 (0: TensorFlow's choice), got {value}")
    if not intra_op and not inter_op:
        return
    import tensorflow as tf

    threading = tf.config.threading
    for value, get, put, flag in (
            (intra_op, threading.get_intra_op_parallelism_threads,
             threading.set_intra_op_parallelism_threads, "--tensorflow_intra_op_parallelism"),
            (inter_op, threading.get_inter_op_parallelism_threads,
             threading.set_inter_op_parallelism_threads, "--tensorflow_inter_op_parallelism")):
        if not value or get() == value:
            continue
        try:
            put(value)
        except RuntimeError:
            raise UsageError(
                f"{flag}={value}: TensorFlow already runs in this process with {get() or 'its own'}"
                " thread count; set it before any model loads (a fresh process)") from None
    log.info("TensorFlow thread pools: intra-op %s, inter-op %s", intra_op or "default",
             inter_op or "default")
