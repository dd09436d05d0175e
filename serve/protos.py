"""TF Serving config messages that tensorflow-serving-api does not ship, declared here.

`BatchingParameters` (session_bundle_config.proto), `MonitoringConfig` (monitoring_config.proto)
and `SSLConfig` (ssl_config.proto) are built from descriptors in a private pool, so their text
files parse with protobuf's own parser and errors read exactly like TF Serving's (line and
column).
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

_F = descriptor_pb2.FieldDescriptorProto


def _field(message: descriptor_pb2.DescriptorProto, name: str, number: int, kind: int,
           type_name: str = "", repeated: bool = False) -> None:
    field = message.field.add(name=name, number=number, type=kind)
    field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if type_name:
        field.type_name = type_name


def _build() -> tuple[type, type]:
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)

    file = descriptor_pb2.FileDescriptorProto(
        name="liveri/serve/tf_serving_configs.proto", package="tensorflow.serving",
        dependency=["google/protobuf/wrappers.proto"], syntax="proto3")
    batching = file.message_type.add(name="BatchingParameters")
    int64 = ".google.protobuf.Int64Value"
    for number, name in ((1, "max_batch_size"), (2, "batch_timeout_micros"),
                         (3, "max_enqueued_batches"), (4, "num_batch_threads"),
                         (9, "max_execution_batch_size"), (10, "low_priority_max_batch_size"),
                         (11, "low_priority_batch_timeout_micros"),
                         (12, "low_priority_max_enqueued_batches")):
        _field(batching, name, number, _F.TYPE_MESSAGE, int64)
    _field(batching, "thread_pool_name", 5, _F.TYPE_MESSAGE, ".google.protobuf.StringValue")
    _field(batching, "allowed_batch_sizes", 6, _F.TYPE_INT64, repeated=True)
    _field(batching, "pad_variable_length_inputs", 7, _F.TYPE_BOOL)
    _field(batching, "enable_large_batch_splitting", 8, _F.TYPE_MESSAGE,
           ".google.protobuf.BoolValue")
    _field(batching, "batch_padding_policy", 13, _F.TYPE_MESSAGE, ".google.protobuf.StringValue")
    _field(batching, "low_priority_allowed_batch_sizes", 14, _F.TYPE_INT64, repeated=True)
    _field(batching, "mixed_priority_batching_policy", 15, _F.TYPE_MESSAGE,
           ".google.protobuf.StringValue")

    prometheus = file.message_type.add(name="PrometheusConfig")
    _field(prometheus, "enable", 1, _F.TYPE_BOOL)
    _field(prometheus, "path", 2, _F.TYPE_STRING)
    monitoring = file.message_type.add(name="MonitoringConfig")
    _field(monitoring, "prometheus_config", 1, _F.TYPE_MESSAGE,
           ".tensorflow.serving.PrometheusConfig")
    ssl = file.message_type.add(name="SSLConfig")
    for number, name in ((1, "server_key"), (2, "server_cert"), (3, "custom_ca")):
        _field(ssl, name, number, _F.TYPE_STRING)
    _field(ssl, "client_verify", 4, _F.TYPE_BOOL)
    pool.Add(file)
    return tuple(message_factory.GetMessageClass(pool.FindMessageTypeByName(
        f"tensorflow.serving.{name}")) for name in ("BatchingParameters", "MonitoringConfig",
                                                    "SSLConfig"))


BatchingParametersProto, MonitoringConfigProto, SSLConfigProto = _build()
