"""Each kind's numpy side (what devices, parity, the server's TFLite backend and the benchmarks
run) against the graph side the SavedModel runs. Text and speech are held equal end to end in
tests/mobile (bundles answer as `serving_default`); here, the image kind, fast."""

from __future__ import annotations

import numpy as np
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
