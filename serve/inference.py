"""The PredictionService methods over one pinned servable, independent of gRPC or REST.

Each function takes a request proto and a `Servable` and returns the response proto, raising
`ServingError` for anything the request gets wrong. Warmup, gRPC and REST all call these.
"""

from __future__ import annotations

import numpy as np
from google.protobuf import struct_pb2
from liveri.serve import request_log, wire
from liveri.serve.errors import invalid
from liveri.serve.loader import (
    CLASSIFY_METHOD,
    DEFAULT_SIGNATURE,
    REGRESS_METHOD,
    OffloadFn,
    Servable,
    Signature,
)
from liveri.serve.tensors import to_ndarray, to_proto
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    inference_pb2,
    input_pb2,
    model_pb2,
    predict_pb2,
    regression_pb2,
)

SIGNATURE_DEF_FIELD = "signature_def"
BACKEND_FIELD = "liveri_backend"  # Liveri's own metadata field: what answers each signature
_CLASSIFY_INPUTS = "inputs"
_CLASSES = "classes"
_SCORES = "scores"
_REGRESS_OUTPUTS = "outputs"


def fill_model_spec(spec: model_pb2.ModelSpec, servable: Servable, signature_key: str) -> None:
    """The answering model, version and signature, as TF Serving reports them."""
    spec.name = servable.name
    spec.version.value = servable.version
    spec.signature_name = signature_key


def predict(servable: Servable, request: predict_pb2.PredictRequest,
            deadline: float | None = None) -> predict_pb2.PredictResponse:
    """Run the requested signature on the request's named input tensors."""
    signature = servable.signature(request.model_spec.signature_name)
    outputs = signature.run(_inputs(request), list(request.output_filter), deadline)
    response = predict_response(servable, signature, outputs)
    request_log.record("predict", servable, lambda: (request, response))
    return response


async def predict_async(servable: Servable, request: predict_pb2.PredictRequest,
                        deadline: float | None, offload: OffloadFn) -> bytes:
    """`predict` for a coroutine on an event loop (see `Signature.run_async`), answering the
    serialized PredictResponse, written straight from the outputs (see `wire`)."""
    signature = servable.signature(request.model_spec.signature_name)
    outputs = await signature.run_async(_inputs(request), list(request.output_filter), deadline,
                                        offload)
    request_log.record("predict", servable,
                       lambda: (request, predict_response(servable, signature, outputs)))
    spec = signature.response_spec
    if spec is None:
        message = model_pb2.ModelSpec()
        fill_model_spec(message, servable, signature.key)
        spec = signature.response_spec = message.SerializeToString()
    return wire.predict_response_bytes(spec, outputs)


def _inputs(request: predict_pb2.PredictRequest) -> dict[str, np.ndarray]:
    return {name: to_ndarray(name, proto) for name, proto in request.inputs.items()}


def predict_request(servable: Servable, signature: Signature, inputs: dict[str, np.ndarray]
                    ) -> predict_pb2.PredictRequest:
    """The PredictRequest a gRPC client would have sent for `inputs` (REST's, for the log)."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = servable.name
    request.model_spec.signature_name = signature.key
    for key, value in inputs.items():
        to_proto(value, request.inputs[key])
    return request


def predict_response(servable: Servable, signature: Signature,
                      outputs: dict[str, np.ndarray]) -> predict_pb2.PredictResponse:
    response = predict_pb2.PredictResponse()
    fill_model_spec(response.model_spec, servable, signature.key)
    for key, value in outputs.items():
        to_proto(value, response.outputs[key])
    return response


def serialized_examples(request_input: input_pb2.Input) -> np.ndarray:
    """The request's tf.Examples as the serialized strings a classify/regress graph parses.

    With a context, each example is the context merged with it (proto concatenation is merge).
    """
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        examples = [e.SerializeToString() for e in request_input.example_list.examples]
    elif kind == "example_list_with_context":
        listed = request_input.example_list_with_context
        context = listed.context.SerializeToString()
        examples = [context + e.SerializeToString() for e in listed.examples]
    else:
        examples = []
    if not examples:
        raise invalid("Input is empty: it must hold at least one tf.Example "
                      "(example_list or example_list_with_context)")
    array = np.empty(len(examples), dtype=object)
    array[:] = examples
    return array


def _example_signature(servable: Servable, key: str, method: str, wanted: tuple[str, ...]
                       ) -> Signature:
    signature = servable.signature(key)
    if servable.check_method_names and signature.method_name != method:
        raise invalid(f"Expected {method.rsplit('/', 1)[-1]} signature method_name to be "
                      f"{method}. Was: {signature.method_name}")
    if list(signature.inputs) != [_CLASSIFY_INPUTS]:
        raise invalid(f"Signature '{signature.key}' must have exactly one input named "
                      f"'{_CLASSIFY_INPUTS}' of serialized tf.Examples")
    if not any(name in signature.outputs for name in wanted):
        raise invalid(f"Signature '{signature.key}' must have output(s) {' or '.join(wanted)}")
    return signature


def _run_examples(signature: Signature, request_input: input_pb2.Input,
                  deadline: float | None) -> tuple[int, dict[str, np.ndarray]]:
    examples = serialized_examples(request_input)
    return len(examples), signature.run({_CLASSIFY_INPUTS: examples}, None, deadline)


def _classification_result(count: int, outputs: dict[str, np.ndarray],
                           result: classification_pb2.ClassificationResult) -> None:
    scores = outputs.get(_SCORES)
    classes = outputs.get(_CLASSES)
    for name, value in ((_SCORES, scores), (_CLASSES, classes)):
        if value is not None and (value.ndim != 2 or value.shape[0] != count):
            raise invalid(f"Expected output '{name}' of shape [batch_size num_classes] with "
                          f"batch_size {count}, got {list(value.shape)}")
    if scores is not None and classes is not None and scores.shape != classes.shape:
        raise invalid(f"Output 'classes' {list(classes.shape)} and 'scores' "
                      f"{list(scores.shape)} must have the same shape")
    width = (scores if scores is not None else classes).shape[1]  # type: ignore[union-attr]
    for i in range(count):
        classification = result.classifications.add()
        for j in range(width):
            cls = classification.classes.add()
            if classes is not None:
                label = classes[i, j]
                cls.label = label.decode("utf-8", "replace") if isinstance(label, bytes) else str(label)
            if scores is not None:
                cls.score = float(scores[i, j])


def _regression_result(count: int, outputs: dict[str, np.ndarray],
                       result: regression_pb2.RegressionResult) -> None:
    values = outputs[_REGRESS_OUTPUTS]
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or values.shape[0] != count:
        raise invalid(f"Expected output tensor shape to be either [{count}] or [{count}, 1] "
                      f"but got {list(values.shape)}")
    for value in values.tolist():
        result.regressions.add().value = float(value)


def classify(servable: Servable, request: classification_pb2.ClassificationRequest,
             deadline: float | None = None) -> classification_pb2.ClassificationResponse:
    """Classify the request's tf.Examples with a classify-method signature."""
    signature = _example_signature(servable, request.model_spec.signature_name, CLASSIFY_METHOD,
                                   (_CLASSES, _SCORES))
    count, outputs = _run_examples(signature, request.input, deadline)
    response = classification_pb2.ClassificationResponse()
    fill_model_spec(response.model_spec, servable, signature.key)
    _classification_result(count, outputs, response.result)
    request_log.record("classify", servable, lambda: (request, response))
    return response


def regress(servable: Servable, request: regression_pb2.RegressionRequest,
            deadline: float | None = None) -> regression_pb2.RegressionResponse:
    """Regress the request's tf.Examples with a regress-method signature."""
    signature = _example_signature(servable, request.model_spec.signature_name, REGRESS_METHOD,
                                   (_REGRESS_OUTPUTS,))
    count, outputs = _run_examples(signature, request.input, deadline)
    response = regression_pb2.RegressionResponse()
    fill_model_spec(response.model_spec, servable, signature.key)
    _regression_result(count, outputs, response.result)
    request_log.record("regress", servable, lambda: (request, response))
    return response


def multi_inference(servable: Servable, request: inference_pb2.MultiInferenceRequest,
                    deadline: float | None = None) -> inference_pb2.MultiInferenceResponse:
    """Several classify/regress tasks of one model over the same tf.Examples."""
    if not request.tasks:
        raise invalid("MultiInferenceRequest must have at least one task")
    seen = set()
    response = inference_pb2.MultiInferenceResponse()
    for task in request.tasks:
        if task.model_spec.name != servable.name:
            raise invalid("All ModelSpecs in a MultiInferenceRequest must access the same model "
                          f"name ({servable.name}), got {task.model_spec.name}")
        key = task.model_spec.signature_name or DEFAULT_SIGNATURE
        if key in seen:
            raise invalid(f"Duplicate evaluation of signature: {key}")
        seen.add(key)
        result = response.results.add()
        if task.method_name == CLASSIFY_METHOD:
            signature = _example_signature(servable, key, CLASSIFY_METHOD, (_CLASSES, _SCORES))
            count, outputs = _run_examples(signature, request.input, deadline)
            _classification_result(count, outputs, result.classification_result)
        elif task.method_name == REGRESS_METHOD:
            signature = _example_signature(servable, key, REGRESS_METHOD, (_REGRESS_OUTPUTS,))
            count, outputs = _run_examples(signature, request.input, deadline)
            _regression_result(count, outputs, result.regression_result)
        else:
            raise invalid(f"Unsupported signature method_name: {task.method_name}; expected "
                          f"{CLASSIFY_METHOD} or {REGRESS_METHOD}")
        fill_model_spec(result.model_spec, servable, key)
    request_log.record("multi_inference", servable, lambda: (request, response))
    return response


def model_metadata(servable: Servable, request: get_model_metadata_pb2.GetModelMetadataRequest
                   ) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """The version's signature defs, the one metadata field TF Serving offers."""
    fields = list(request.metadata_field)
    if not fields:
        raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
    for name in fields:
        if name not in (SIGNATURE_DEF_FIELD, BACKEND_FIELD):
            raise invalid(f"Metadata field {name} is not supported; expected "
                          f"{SIGNATURE_DEF_FIELD} or {BACKEND_FIELD}")
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    fill_model_spec(response.model_spec, servable, "")
    if SIGNATURE_DEF_FIELD in fields:
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for key, sig_def in servable.signature_defs.items():
            signature_map.signature_def[key].CopyFrom(sig_def)
        response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
    if BACKEND_FIELD in fields:
        response.metadata[BACKEND_FIELD].Pack(_backends(servable))
    return response


def _backends(servable: Servable) -> struct_pb2.Struct:
    """Which backend answers each signature: {signature: {"backend": ..., and with
    --liveri_backend=auto "p50_ms": {candidate: ms}, "refused": {artifact: why}}}."""
    answer = struct_pb2.Struct()
    for key in servable.signatures:
        answer.get_or_create_struct(key)["backend"] = servable.platform
    choice = servable.backend_choice
    if choice is not None:
        entry = answer.get_or_create_struct(choice.signature)
        entry.update({"backend": choice.backend, "p50_ms": choice.p50_ms,
                      "refused": choice.refused})
    return answer
