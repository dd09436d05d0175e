"""REST front end: TF Serving's JSON API (`/v1/models/...`) over the same handlers as gRPC.

Shapes follow TF Serving exactly: row format (`instances`) answers `{"predictions": ...}`,
columnar (`inputs`) answers `{"outputs": ...}`, a single-output signature's values are unwrapped,
binary strings travel as `{"b64": ...}`, errors as `{"error": "..."}` with TF Serving's HTTP codes.
One addition, which TF Serving's REST API lacks: `:multi_inference`, gRPC's MultiInference in JSON
(`_multi_inference`).
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
from google.protobuf import json_format
from liveri.serve import inference, request_log
from liveri.serve.errors import ServingError, from_exception, invalid
from liveri.serve.grpc_service import Dispatcher, model_status_response
from liveri.serve.loader import CLASSIFY_METHOD, REGRESS_METHOD, Servable
from liveri.serve.tensors import NUMPY_DTYPES, check_size, dtype_name
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    inference_pb2,
    input_pb2,
    regression_pb2,
)

# /v1/models/NAME[/versions/N | /labels/L][/metadata | :predict | :classify | :regress |
#                                          :multi_inference]
_PATH = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<verb>predict|classify|regress|multi_inference))?/?$"
)
_STATE_NAMES = {10: "START", 20: "LOADING", 30: "AVAILABLE", 40: "UNLOADING", 50: "END"}

Response = tuple[int, bytes, str]


def _json(status: int, payload: Any) -> Response:
    return status, json.dumps(payload, separators=(",", ":")).encode(), "application/json"


def _error(error: ServingError) -> Response:
    return _json(error.http_status, {"error": error.message})


class RestApi:
    """Routes one HTTP request to the model handlers; returns (status, body, content type)."""

    def __init__(self, dispatcher: Dispatcher, timeout_seconds: float | None = None,
                 extra_routes: dict[str, Callable[[], Response]] | None = None) -> None:
        self._dispatcher = dispatcher
        self._timeout = timeout_seconds
        self._extra = extra_routes or {}

    def handle(self, method: str, path: str, body: bytes, arrived: float) -> Response:
        """Answer one request; `arrived` (time.monotonic()) starts its deadline, so the
        REST timeout bounds the whole request, its wait for a worker included."""
        path = path.split("?", 1)[0]
        if method == "GET" and path in self._extra:
            return self._extra[path]()
        match = _PATH.match(path)
        if match is None:
            return _json(404, {"error": "Malformed request: " + method + " " + path})
        try:
            return self._route(method, match, body, arrived)
        except Exception as exc:
            return _error(from_exception(exc))

    def _route(self, method: str, match: re.Match, body: bytes, arrived: float) -> Response:
        name = match["name"]
        version = int(match["version"]) if match["version"] else None
        label = match["label"]
        verb = match["verb"]
        if verb is None:
            if method != "GET":
                return _json(405, {"error": f"Method {method} not allowed; use GET"})
            if match["metadata"]:
                return self._metadata(name, version, label)
            status = model_status_response(self._dispatcher.manager, name, version, label)
            return _json(200, _proto_json(status))
        if method != "POST":
            return _json(405, {"error": f"Method {method} not allowed; use POST"})
        try:
            request = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise invalid(f"JSON Parse error: {exc}") from None
        except RecursionError:  # a body nested deeper than the parser's stack
            raise invalid("JSON Parse error: nested too deeply") from None
        if not isinstance(request, dict):
            raise invalid("JSON Value: request body must be a JSON object")
        signature_name = request.get("signature_name", "")
        if verb == "multi_inference":  # its metrics count under the first task's signature
            tasks = request.get("tasks")
            first = tasks[0] if isinstance(tasks, list) and tasks else None
            signature_name = first.get("signature_name", "") if isinstance(first, dict) else ""
        spec = _Spec(name, version, label, signature_name)
        deadline = None if not self._timeout else arrived + self._timeout
        handlers = {"predict": _predict, "classify": _classify, "regress": _regress,
                    "multi_inference": _multi_inference}
        payload = self._dispatcher.call(
            verb, request, lambda servable, req, dl: handlers[verb](servable, req, spec, dl),
            spec, deadline)
        return _json(200, payload)

    def _metadata(self, name: str, version: int | None, label: str | None) -> Response:
        spec = _Spec(name, version, label, "")
        request = get_model_metadata_pb2.GetModelMetadataRequest(
            metadata_field=[inference.SIGNATURE_DEF_FIELD])
        response = self._dispatcher.call(
            "get_model_metadata", request,
            lambda servable, req, dl: inference.model_metadata(servable, req), spec, None)
        # As TF Serving writes it: the SignatureDefMap unpacked from its Any (no "@type").
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata[inference.SIGNATURE_DEF_FIELD].Unpack(signatures)
        return _json(200, {"model_spec": _proto_json(response.model_spec),
                           "metadata": {"signature_def": _proto_json(signatures)}})


def _proto_json(message: Any) -> Any:
    """A proto as TF Serving's REST handler prints it: proto field names, defaults shown."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


class _Spec:
    """Quacks like a ModelSpec proto for the dispatcher."""

    def __init__(self, name: str, version: int | None, label: str | None, signature: Any) -> None:
        if not isinstance(signature, str):
            raise invalid("'signature_name' must be a string")
        self.name = name
        self._version = version
        self.version_label = label or ""
        self.signature_name = signature

    def HasField(self, field: str) -> bool:  # noqa: N802 (protobuf's spelling)
        return field == "version" and self._version is not None

    @property
    def version(self) -> Any:
        return _Value(self._version)


class _Value:
    def __init__(self, value: Any) -> None:
        self.value = value


# -- JSON -> tensors ---------------------------------------------------------------------------

def _decode(value: Any) -> Any:
    """Replace {"b64": ...} objects by their bytes, recursively."""
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"b64"} and isinstance(value["b64"], str):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except ValueError:
                raise invalid("Unable to base64 decode a {\"b64\": ...} value") from None
        raise invalid("JSON object inside a tensor value: only {\"b64\": \"...\"} is allowed")
    return value


def _to_array(name: str, value: Any, dtype_enum: int) -> np.ndarray:
    dtype = NUMPY_DTYPES.get(dtype_enum)
    if dtype is None:
        raise invalid(f"input '{name}': dtype {dtype_name(dtype_enum)} is not supported over REST")
    value = _decode(value)
    try:
        if dtype_enum == types_pb2.DT_STRING:
            array = np.array(value, dtype=object)
            flat = array.reshape(-1)
            for i, item in enumerate(flat):
                if isinstance(item, str):
                    flat[i] = item.encode()
                elif not isinstance(item, bytes):
                    raise invalid(f"input '{name}' expects strings (DT_STRING), got {item!r}")
            return array
        probe = np.array(value)
        if probe.dtype == object or probe.dtype.kind in "SUV":
            raise invalid(f"input '{name}' expects {dtype_name(dtype_enum)} numbers in a "
                          "rectangular (not ragged) list")
        check_size(name, probe.shape, dtype.itemsize)
        if dtype.kind in "iub" and probe.dtype.kind == "f":
            if not np.all(np.isfinite(probe)) or np.any(probe != np.round(probe)):
                raise invalid(f"input '{name}' expects integers ({dtype_name(dtype_enum)}), "
                              "got a fraction")
        if dtype.kind in "iu" and probe.size:
            info = np.iinfo(dtype)
            if probe.min() < info.min or probe.max() > info.max:
                raise invalid(f"input '{name}': a value is out of range for "
                              f"{dtype_name(dtype_enum)} [{info.min}, {info.max}]")
        return probe.astype(dtype)
    except ServingError:
        raise
    except (ValueError, TypeError, OverflowError) as exc:
        raise invalid(f"input '{name}' cannot be read as {dtype_name(dtype_enum)}: {exc}") from None


def _request_inputs(servable: Servable, request: dict, signature_key: str
                    ) -> tuple[dict[str, np.ndarray], bool]:
    """The request's input arrays and whether it used the row (instances) format."""
    signature = servable.signature(signature_key)
    specs = signature.inputs
    has_rows, has_cols = "instances" in request, "inputs" in request
    if has_rows == has_cols:
        raise invalid("Missing 'inputs' or 'instances' key" if not has_rows else
                      "Not both 'inputs' and 'instances' can be specified")
    if has_cols:
        columns = request["inputs"]
        if isinstance(columns, dict) and not (set(columns) == {"b64"}):
            named = columns
        elif len(specs) == 1:
            named = {next(iter(specs)): columns}
        else:
            raise invalid(f"'inputs' must name each of the signature's inputs "
                          f"({', '.join(sorted(specs))})")
        return {k: _to_array(k, v, _dtype_for(specs, k)) for k, v in named.items()}, False
    rows = request["instances"]
    if not isinstance(rows, list) or not rows:
        raise invalid("'instances' must be a non-empty list")
    if all(isinstance(r, dict) and set(r) != {"b64"} for r in rows):
        names = set(rows[0])
        if any(set(r) != names for r in rows):
            raise invalid("Expecting object in 'instances' to have the same keys in every row")
        return {k: _to_array(k, [r[k] for r in rows], _dtype_for(specs, k)) for k in names}, True
    if len(specs) != 1:
        raise invalid(f"'instances' must be objects naming the signature's inputs "
                      f"({', '.join(sorted(specs))})")
    key = next(iter(specs))
    return {key: _to_array(key, rows, specs[key].dtype)}, True


def _dtype_for(specs: dict, name: str) -> int:
    spec = specs.get(name)
    if spec is None:
        raise invalid(f"input tensor alias not found in signature: {name}. Inputs expected to be "
                      f"in the set {{{','.join(sorted(specs))}}}.")
    return spec.dtype


# -- tensors -> JSON ---------------------------------------------------------------------------

def _json_value(name: str, array: np.ndarray) -> Any:
    if array.dtype == object or array.dtype.kind in "SU":
        b64 = name.endswith("_bytes")

        def text(item: Any) -> Any:
            if isinstance(item, bytes):
                if b64:
                    return {"b64": base64.b64encode(item).decode()}
                return item.decode("utf-8", "replace")
            return item

        return _map_nested(array.tolist(), text)
    if array.dtype == np.float32 or array.dtype == np.float16:
        return _map_nested(array.tolist(), _short)
    return array.tolist()


def _short(value: float) -> float:
    """The shortest decimal that reads back as the same float32 (2.5, not 2.5000000xx)."""
    if not math.isfinite(value):
        return value
    for digits in range(6, 10):
        candidate = float(f"{value:.{digits}g}")
        if np.float32(candidate) == np.float32(value):
            return candidate
    return value


def _map_nested(value: Any, fn: Callable[[Any], Any]) -> Any:
    if isinstance(value, list):
        return [_map_nested(v, fn) for v in value]
    return fn(value)


def _predict(servable: Servable, request: dict, spec: _Spec, deadline: float | None) -> Any:
    inputs, rows = _request_inputs(servable, request, spec.signature_name)
    signature = servable.signature(spec.signature_name)
    outputs = signature.run(inputs, None, deadline)
    request_log.record("predict", servable, lambda: (  # as gRPC would have carried it
        inference.predict_request(servable, signature, inputs),
        inference.predict_response(servable, signature, outputs)))
    if rows:
        batch = {len(v) if v.ndim else -1 for v in outputs.values()}
        if len(outputs) == 1:
            (key, value), = outputs.items()
            return {"predictions": _json_value(key, value)}
        if len(batch) != 1 or -1 in batch:
            raise invalid("Row format answers need every output to share its first dimension; "
                          "use the columnar 'inputs' format for this signature")
        columns = {k: _json_value(k, v) for k, v in outputs.items()}
        count = batch.pop()
        return {"predictions": [{k: columns[k][i] for k in columns} for i in range(count)]}
    if len(outputs) == 1:
        (key, value), = outputs.items()
        return {"outputs": _json_value(key, value)}
    return {"outputs": {k: _json_value(k, v) for k, v in outputs.items()}}


def _feature(name: str, value: Any) -> feature_pb2.Feature:
    values = value if isinstance(value, list) else [value]
    values = _decode(values)
    feature = feature_pb2.Feature()
    if all(isinstance(v, bool) for v in values) and values:
        feature.int64_list.value.extend(int(v) for v in values)
    elif all(isinstance(v, int) and not isinstance(v, bool) for v in values) and values:
        feature.int64_list.value.extend(values)
    elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        feature.float_list.value.extend(values)
    elif all(isinstance(v, (str, bytes)) for v in values):
        feature.bytes_list.value.extend(v.encode() if isinstance(v, str) else v for v in values)
    else:
        raise invalid(f"feature '{name}' must hold numbers or strings of one kind")
    return feature


def _example(value: Any) -> example_pb2.Example:
    if not isinstance(value, dict):
        raise invalid("Each entry of 'examples' (and 'context') must be a JSON object of features")
    example = example_pb2.Example()
    for key, item in value.items():
        example.features.feature[key].CopyFrom(_feature(key, item))
    return example


def _input(request: dict) -> input_pb2.Input:
    examples = request.get("examples")
    if not isinstance(examples, list) or not examples:
        raise invalid("'examples' must be a non-empty list of JSON objects")
    proto = input_pb2.Input()
    if "context" in request:
        target = proto.example_list_with_context
        target.context.CopyFrom(_example(request["context"]))
    else:
        target = proto.example_list
    for item in examples:
        target.examples.add().CopyFrom(_example(item))
    return proto


def _fill(request: Any, servable: Servable, spec: _Spec) -> None:
    request.model_spec.name = servable.name
    request.model_spec.signature_name = spec.signature_name


def _classify(servable: Servable, body: dict, spec: _Spec, deadline: float | None) -> Any:
    request = classification_pb2.ClassificationRequest()
    _fill(request, servable, spec)
    request.input.CopyFrom(_input(body))
    response = inference.classify(servable, request, deadline)
    return {"results": _classifications(response.result)}


def _classifications(result: classification_pb2.ClassificationResult) -> list:
    return [[[c.label, _short(c.score)] for c in item.classes] for item in result.classifications]


def _regressions(result: regression_pb2.RegressionResult) -> list:
    return [_short(r.value) for r in result.regressions]


def _regress(servable: Servable, body: dict, spec: _Spec, deadline: float | None) -> Any:
    request = regression_pb2.RegressionRequest()
    _fill(request, servable, spec)
    request.input.CopyFrom(_input(body))
    response = inference.regress(servable, request, deadline)
    return {"results": _regressions(response.result)}


_METHODS = {"classify": CLASSIFY_METHOD, "regress": REGRESS_METHOD}


def _multi_inference(servable: Servable, body: dict, spec: _Spec, deadline: float | None
                     ) -> Any:
    """`{"tasks": [{"signature_name": ..., "method_name": "classify" | "regress"}, ...],
    "examples": [...], "context": {...}}`: several signatures over the same examples, answered
    `{"results": [{"signature_name": ..., "results": ...}, ...]}`, each task's results shaped as
    `:classify` or `:regress` shapes them."""
    tasks = body.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise invalid("'tasks' must be a non-empty list of "
                      '{"signature_name": ..., "method_name": "classify" or "regress"}')
    request = inference_pb2.MultiInferenceRequest()
    for task in tasks:
        if not isinstance(task, dict):
            raise invalid("Each entry of 'tasks' must be a JSON object")
        entry = request.tasks.add()
        entry.model_spec.name = servable.name
        entry.model_spec.signature_name = str(task.get("signature_name", ""))
        method = str(task.get("method_name", ""))
        entry.method_name = _METHODS.get(method, method)
    request.input.CopyFrom(_input(body))
    response = inference.multi_inference(servable, request, deadline)
    results = []
    for result in response.results:
        kind = result.WhichOneof("result")
        results.append({"signature_name": result.model_spec.signature_name,
                        "results": _classifications(result.classification_result)
                        if kind == "classification_result"
                        else _regressions(result.regression_result)})
    return {"results": results}

