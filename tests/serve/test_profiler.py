"""TensorFlow's profiler client traces the model server through its gRPC port, as it traces
tensorflow_model_server."""

from __future__ import annotations

import threading

import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from tests.serve.serve_helpers import digits_request, sample_pixels


def test_profiler_trace_on_the_grpc_port_collects_the_served_model(server, predict_stub,
                                                                  tmp_path):
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            predict_stub.Predict(digits_request(sample_pixels(4)), timeout=10)

    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        # Raises "No trace event was collected" when the port does not answer the profiler.
        tf.profiler.experimental.client.trace(f"grpc://127.0.0.1:{server.grpc_port}",
                                              str(tmp_path), 1500)
    finally:
        stop.set()
        thread.join()
    (trace,) = tmp_path.glob("plugins/profile/*/*.xplane.pb")
    space = xplane_pb2.XSpace.FromString(trace.read_bytes())
    events = [e for plane in space.planes for line in plane.lines for e in line.events]
    assert events, "the trace holds no event"
