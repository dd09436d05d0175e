"""Loader: turns one version folder on disk into a servable (its signatures, ready to call).

A `Servable` is what a request runs against; `load_saved_model` builds it from a SavedModel (other
backends: `tflite`, `artifacts`) and `Servable.unload` lets its memory go once no request pins it.
A SavedModel runs as TF Serving runs it: its graph in a TensorFlow session, each signature one
session callable, whatever wrote it (TF1 builders, `tf.saved_model.save`, Keras).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np
from liveri.serve.errors import ServingError, invalid
from liveri.serve.tensors import NUMPY_DTYPES, dtype_name, shape_text
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"
_INIT_OP_KEY = "__saved_model_init_op"

# A signature's callable: named numpy inputs in, named numpy outputs out.
RunFn = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
# Runs a RunFn off the event loop (on a thread) and awaits its outputs.
OffloadFn = Callable[[RunFn, dict[str, np.ndarray]], Awaitable[dict[str, np.ndarray]]]
# An unbatched call cheaper than this (its running mean) runs on the event loop itself when its
# request came alone: two thread hand-offs cost more than such a call (0.3 ms measured on this
# project's machines), and it holds the loop up for at most this long.
INLINE_CALL_SECONDS = 0.002


@dataclass(frozen=True)
class TensorSpec:
    """One signature input or output: its alias, dtype enum and shape (None dims unknown)."""

    alias: str
    dtype: int
    shape: tuple[int | None, ...] | None

    def describe(self) -> str:
        return f"{self.alias} ({dtype_name(self.dtype)} {shape_text(self.shape)})"


@dataclass
class Signature:
    """A callable signature plus its declared inputs and outputs, which requests are checked against.

    `strict_shapes` is False for TF1 graphs: TF Serving feeds them without shape checks (so the
    classic half_plus_two accepts `[1.0, 2.0, 5.0]` for its `[-1,1]` input), and so do we.
    `batcher` (a `batching.BatchScheduler`) is set when the server batches this signature.
    """

    key: str
    method_name: str
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]
    run_direct: RunFn
    strict_shapes: bool = True
    batcher: Any = None
    response_spec: bytes | None = None  # its serialized ModelSpec, as Predict answers carry it
    # Where unbatched calls run (`run_async`): their mean duration, how many run on threads
    # now, and when the last one on the loop ended (perf_counter seconds).
    call_seconds: float = 0.0
    on_threads: int = 0
    inline_ended: float = 0.0

    def check_inputs(self, inputs: dict[str, np.ndarray]) -> None:
        """INVALID_ARGUMENT naming the first input that does not match the signature."""
        if not inputs:
            raise invalid(
                f"Request has no inputs; signature '{self.key}' expects "
                f"{', '.join(spec.describe() for spec in self.inputs.values())}"
            )
        for name in inputs:
            if name not in self.inputs:
                raise invalid(
                    f"input tensor alias not found in signature: {name}. Inputs expected to be in "
                    f"the set {{{','.join(sorted(self.inputs))}}}."
                )
        missing = [name for name in self.inputs if name not in inputs]
        if missing:
            raise invalid(
                f"Request is missing input(s) {', '.join(missing)} of signature '{self.key}'; "
                f"expected {', '.join(self.inputs[m].describe() for m in missing)}"
            )
        for name, array in inputs.items():
            spec = self.inputs[name]
            expected = NUMPY_DTYPES.get(spec.dtype)
            if expected is not None and array.dtype != expected:
                raise invalid(
                    f"input '{name}' has dtype {_dtype_of(array)} but signature '{self.key}' "
                    f"expects {dtype_name(spec.dtype)}"
                )
            if self.strict_shapes and not _shape_fits(array.shape, spec.shape):
                raise invalid(
                    f"input '{name}' has shape {shape_text(array.shape)} but signature "
                    f"'{self.key}' expects {shape_text(spec.shape)}"
                )

    def _check_request(self, inputs: dict[str, np.ndarray], output_keys: list[str] | None
                       ) -> None:
        self.check_inputs(inputs)
        for key in output_keys or ():
            if key not in self.outputs:
                raise invalid(
                    f"output tensor alias not found in signature: {key}. Outputs expected to be "
                    f"in the set {{{','.join(sorted(self.outputs))}}}."
                )

    def run(self, inputs: dict[str, np.ndarray], output_keys: list[str] | None = None,
            deadline: float | None = None) -> dict[str, np.ndarray]:
        """Checked inputs in, the requested outputs (all when `output_keys` is empty) out.

        `deadline` (time.monotonic() seconds) lets a request that waited too long skip the model.
        """
        self._check_request(inputs, output_keys)
        if self.batcher is not None:
            outputs = self.batcher.submit(inputs, deadline)
        else:
            _check_deadline(deadline)
            outputs = self.run_direct(inputs)
        return _selected(outputs, output_keys)

    async def run_async(self, inputs: dict[str, np.ndarray], output_keys: list[str] | None,
                        deadline: float | None, offload: OffloadFn) -> dict[str, np.ndarray]:
        """`run` for a coroutine on an event loop. Batched calls run on a batch thread; an
        unbatched one through `offload` (a thread pool, as TF Serving runs each request on a
        thread of its own), so the loop keeps reading requests meanwhile, except a cheap call
        whose request came alone, which runs on the loop: no hand-off, the lowest latency."""
        self._check_request(inputs, output_keys)
        if self.batcher is not None:
            return _selected(await self.batcher.submit_async(inputs, deadline), output_keys)
        _check_deadline(deadline)
        started = time.perf_counter()
        # Requests overlap when one is on a thread, or when this one was waiting as the last
        # loop call ended (a lone client's next request comes a round trip later).
        alone = (self.on_threads == 0 and self.call_seconds < INLINE_CALL_SECONDS
                 and started - self.inline_ended > self.call_seconds / 2)
        if alone:
            outputs = self.run_direct(inputs)
            self.inline_ended = time.perf_counter()
        else:
            self.on_threads += 1
            try:
                outputs = await offload(self.run_direct, inputs)
            finally:
                self.on_threads -= 1
        elapsed = time.perf_counter() - started
        # The first call sets the mean: a slow model's first call must not look cheap.
        self.call_seconds += (elapsed - self.call_seconds) * (0.1 if self.call_seconds else 1.0)
        return _selected(outputs, output_keys)


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED,
                           "Deadline exceeded before the model ran")


def _selected(outputs: dict[str, np.ndarray], output_keys: list[str] | None
              ) -> dict[str, np.ndarray]:
    if output_keys:
        return {key: outputs[key] for key in output_keys}
    return outputs


def _dtype_of(array: np.ndarray) -> str:
    for enum, dtype in NUMPY_DTYPES.items():
        if dtype == array.dtype:
            return dtype_name(enum)
    return str(array.dtype)


def _shape_fits(shape: tuple[int, ...], expected: tuple[int | None, ...] | None) -> bool:
    if expected is None:
        return True
    return len(shape) == len(expected) and all(e is None or e == s for s, e in zip(shape, expected))


@dataclass
class Servable:
    """One loaded model version: what a handle pins while a request runs."""

    name: str
    version: int
    path: str
    signatures: dict[str, Signature]
    signature_defs: dict[str, meta_graph_pb2.SignatureDef]
    platform: str = "tensorflow"
    load_seconds: float = 0.0
    # TF Serving's --enable_signature_method_name_check: Classify and Regress only run
    # signatures with their method_name; off (its default), any signature of their shape.
    check_method_names: bool = False
    request_logs: Any = None  # the server's request_log.RequestLogs, once warmed up
    backend_choice: Any = None  # a backend_choice.BackendChoice, with --liveri_backend=auto
    on_unload: list[Callable[[], None]] = field(default_factory=list)
    _model: Any = None

    def signature(self, key: str) -> Signature:
        """The signature `key` ('' means serving_default), or INVALID_ARGUMENT listing the keys."""
        key = key or DEFAULT_SIGNATURE
        found = self.signatures.get(key)
        if found is None:
            raise invalid(
                f'Serving signature key "{key}" not found. Signatures of model {self.name} '
                f"version {self.version}: {', '.join(sorted(self.signatures)) or '(none)'}"
            )
        return found

    def unload(self) -> None:
        """Drop the model so its memory can be reclaimed; only called once nothing pins it."""
        for callback in self.on_unload:
            callback()
        self.signatures.clear()
        self._model = None


def _spec(alias: str, info: meta_graph_pb2.TensorInfo) -> TensorSpec:
    shape: tuple[int | None, ...] | None
    if info.tensor_shape.unknown_rank:
        shape = None
    else:
        shape = tuple(None if d.size < 0 else d.size for d in info.tensor_shape.dim)
    return TensorSpec(alias, info.dtype, shape)


def read_signature_defs(path: str) -> tuple[dict[str, meta_graph_pb2.SignatureDef], bool]:
    """The serve-tagged MetaGraph's signature defs, and whether it is a TF2 (object graph) model."""
    proto = saved_model_pb2.SavedModel()
    pb_path = os.path.join(path, "saved_model.pb")
    if os.path.exists(pb_path):
        with open(pb_path, "rb") as f:
            proto.ParseFromString(f.read())
    else:
        from google.protobuf import text_format

        with open(os.path.join(path, "saved_model.pbtxt")) as f:
            text_format.Parse(f.read(), proto)
    for meta_graph in proto.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            break
    else:
        raise ServingError(grpc.StatusCode.NOT_FOUND,
                           f"SavedModel at {path} has no MetaGraph tagged 'serve'")
    defs = {k: v for k, v in meta_graph.signature_def.items() if k != _INIT_OP_KEY}
    return defs, len(meta_graph.object_graph_def.nodes) > 0


def load_saved_model(name: str, version: int, path: str) -> Servable:
    """Load the SavedModel at `path` into a TensorFlow session, as TF Serving does, and make
    each signature one callable (its feeds and fetches fixed once, numpy in and out)."""
    import tensorflow as tf
    from tensorflow.python.util import deprecation

    started = time.perf_counter()
    signature_defs, is_tf2 = read_signature_defs(path)
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph, config=session_config())
    try:
        with graph.as_default(), deprecation.silence():
            tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
        signatures: dict[str, Signature] = {}
        for key, sig_def in signature_defs.items():
            run = _session_call(session, sig_def)
            if run is None:
                continue
            signatures[key] = Signature(
                key=key,
                method_name=sig_def.method_name or PREDICT_METHOD,
                inputs={a: _spec(a, i) for a, i in sig_def.inputs.items()},
                outputs={a: _spec(a, i) for a, i in sig_def.outputs.items()},
                run_direct=run,
                strict_shapes=is_tf2,
            )
    except BaseException:
        session.close()
        raise
    servable = Servable(name, version, path, signatures, signature_defs, _model=session)
    servable.on_unload.append(session.close)
    servable.load_seconds = time.perf_counter() - started
    return servable


def session_config() -> Any:
    """A session whose ops run in the calling thread (a request's thread, or a batch's), one
    after another, unless `--tensorflow_inter_op_parallelism` asks for a pool.

    TensorFlow's eager function call hands every call to its inter-op pool and waits for it: two
    thread hand-offs per request, which cost more than a small model's whole call (its latency
    halves without them on this project's machines). Kernels keep the process's intra-op threads.
    """
    import tensorflow as tf

    threads = tf.config.threading
    return tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=threads.get_intra_op_parallelism_threads(),
        inter_op_parallelism_threads=threads.get_inter_op_parallelism_threads() or -1,
        allow_soft_placement=True)


def _session_call(session: Any, sig_def: meta_graph_pb2.SignatureDef) -> RunFn | None:
    """The signature as one session callable: named arrays in, named arrays out; None when a
    tensor is not a plain named tensor (sparse or composite), which Predict cannot feed."""
    from tensorflow.core.protobuf import config_pb2

    inputs, outputs = list(sig_def.inputs.items()), list(sig_def.outputs.items())
    if any(not info.name for _, info in inputs + outputs):
        return None
    options = config_pb2.CallableOptions()
    options.feed.extend(info.name for _, info in inputs)
    options.fetch.extend(info.name for _, info in outputs)
    call = session._make_callable_from_options(options)
    input_keys = [key for key, _ in inputs]
    output_keys = [key for key, _ in outputs]

    def run(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(output_keys, call(*[arrays[key] for key in input_keys])))

    return run
