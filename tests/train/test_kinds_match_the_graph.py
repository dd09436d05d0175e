"""Each kind's numpy side (what devices, parity, the server's TFLite backend and the benchmarks
run) against the graph side the SavedModel runs. Text and speech are held equal end to end in
tests/mobile (bundles answer as `serving_default`); here, the image kind and the text tagging
kind's `serving_default` outputs, fast."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from liveri.train.registry import experiment_params

from liveri.artifact import kinds


def test_image_kind_encodes_and_decodes_as_the_task_graph() -> None:
    params = experiment_params("image.Digits")
    task, inp = params.model.Instantiate(), params.input.Instantiate()
    labels = task.AssetFiles(inp)["labels.txt"].encode()
    kind = kinds.load(task.PreprocessingSpec(inp), task.PostprocessingSpec(inp),
                      {"labels_file": labels})
    assert kinds.kind_name(task.PostprocessingSpec(inp)) == "image"
    pixels = inp.Examples("test")["pixels"][:16]
    encoded = kind.encode(list(pixels))
    np.testing.assert_allclose(encoded.features["features"], task.Preprocess(pixels).numpy(),
                               rtol=0, atol=1e-7)
    graph = task.Serve(pixels)
    answers = kind.decode(encoded, {"scores": graph["scores"].numpy()})
    assert [a["class_id"] for a in answers] == graph["classes"].numpy().tolist()
    assert [a["label"].encode() for a in answers] == graph["labels"].numpy().tolist()
    served = kind.serving_outputs(answers, ["classes", "labels", "scores"])
    np.testing.assert_array_equal(served["classes"], graph["classes"].numpy())


def test_text_tagging_kind_answers_serving_default_as_the_task_graph() -> None:
    """The punctuator's artifacts stand in for its serving_default (`liveri serve
    --liveri_backend=auto`, model_platform): the kind writes `text` and `scores` as the graph
    does, the scores padded alike, texts with no words included."""
    params = experiment_params("text.Punctuator")
    task, inp = params.model.Instantiate(), params.input.Instantiate()
    vocab = task.AssetFiles(inp)["vocab.txt"].encode()
    kind = kinds.load(task.PreprocessingSpec(inp), task.PostprocessingSpec(inp),
                      {"vocab_file": vocab})
    texts = ["so it goes and then some", "hello", "", "Mr Smith came home at ten last night"]
    serve = task.ExportSignatures(inp)
    graph = serve["serving_default"](tf.constant([t.encode() for t in texts]))
    encoded = kind.encode(texts)
    outputs = {k: v.numpy() for k, v in serve["features"](**{
        k: tf.constant(v) for k, v in encoded.features.items()}).items()}
    served = kind.serving_outputs(kind.decode(encoded, outputs), ["text", "scores"], outputs)
    assert served["text"].tolist() == graph["text"].numpy().tolist()
    np.testing.assert_allclose(served["scores"], graph["scores"].numpy(), atol=1e-6)
    empty = kind.serving_outputs(kind.decode(kind.encode([""]), {}), ["text", "scores"], {})
    assert empty["text"].tolist() == [b""] and empty["scores"].shape == (1, 1, 4)


def test_speech_kind_answers_serving_default_as_the_task_graph() -> None:
    """speech.Asr's artifacts stand in for its serving_default: the kind writes `text` and
    `scores` as the graph does (the longest utterance's frames, a shorter one's padded frames
    zero), and the graph's answer does not depend on how far the client padded its buffer."""
    params = experiment_params("speech.Asr")
    task, inp = params.model.Instantiate(), params.input.Instantiate()
    vocab = task.AssetFiles(inp)["vocab.txt"].encode()
    kind = kinds.load(task.PreprocessingSpec(inp), task.PostprocessingSpec(inp),
                      {"vocab_file": vocab})
    rng = np.random.default_rng(0)
    waves = [rng.uniform(-0.3, 0.3, n).astype(np.float32) for n in (9000, 16000, 4100)]
    serve = task.ExportSignatures(inp)
    inputs = kind.serving_inputs(waves)  # zero-padded to exactly the longest
    graphs = []
    for extra in (0, 8000):  # and padded further
        waveform = np.pad(inputs["waveform"], [(0, 0), (0, extra)])
        graphs.append({k: v.numpy() for k, v in serve["serving_default"](
            waveform=tf.constant(waveform), lengths=tf.constant(inputs["lengths"])).items()})
    np.testing.assert_allclose(graphs[0]["scores"], graphs[1]["scores"], atol=1e-5)
    graph = graphs[0]
    encoded = kind.encode(waves)
    outputs = {k: v.numpy() for k, v in serve["features"](**{
        k: tf.constant(v) for k, v in encoded.features.items()}).items()}
    served = kind.serving_outputs(kind.decode(encoded, outputs), ["text", "scores"], outputs)
    assert served["text"].tolist() == graph["text"].tolist()
    assert served["scores"].shape == graph["scores"].shape
    np.testing.assert_allclose(served["scores"], graph["scores"], atol=1e-3)
    real = [len(a["scores"]) for a in kind.decode(encoded, outputs)]
    assert real[1] == graph["scores"].shape[1] > real[0] > real[2]
    assert not graph["scores"][2, real[2]:].any() and graph["scores"][2, : real[2]].all()
