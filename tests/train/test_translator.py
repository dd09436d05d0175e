"""text.Translator's graph: the SavedModel's raw-text translation equals what devices compute
(the text_to_text kind's numpy encoding and decoding around the `features` signature), and bad
messages are refused naming the input and the limit."""

import numpy as np
import pytest
from liveri.train.registry import experiment_params

from liveri.artifact import kinds

TINY = ["model.model_dims=32", "model.encoder.num_layers=1", "model.decoder.num_layers=1",
        "model.encoder.layer.num_heads=2", "model.decoder.layer.num_heads=2",
        "model.encoder.layer.hidden_dims=64", "model.decoder.layer.hidden_dims=64",
        ]


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    """A tiny, untrained translator: its random outputs are arbitrary token sequences (words,
    placeholder tokens, <unk>), which is what detokenization must get right."""
    import liveri.train.experiments  # noqa: F401

    params = experiment_params(
        "text.Translator", TINY + [f"input.data_dir={tmp_path_factory.mktemp('mt')}"])
    inp = params.input.Instantiate()
    task = params.model.Instantiate()
    kind = kinds.load(task.PreprocessingSpec(inp), task.PostprocessingSpec(inp),
                      {"vocab_file": inp.VocabPath().read_bytes()})
    return task, inp, kind


def test_graph_translation_equals_the_kind_around_features(translator) -> None:
    import tensorflow as tf

    task, inp, kind = translator
    texts = [t for t in inp.Examples("test")["text"] if len(t) < 60][:40]
    texts += ["%s: cannot open %s", "Usage: %s [OPTION]... FILE"]
    signatures = task.ExportSignatures(inp)
    graph = signatures["serving_default"](tf.constant(texts))
    encoded = kind.encode(texts)
    outputs = {k: v.numpy() for k, v in signatures["features"](**{
        k: tf.constant(v) for k, v in encoded.features.items()}).items()}
    answers = kind.decode(encoded, outputs)
    assert [a["translation"] for a in answers] == \
        [t.decode() for t in graph["translation"].numpy()]
    np.testing.assert_allclose([a["score"] for a in answers], graph["scores"].numpy(),
                               rtol=1e-5)
    assert any(a["translation"] for a in answers)


def test_greedy_signature_decodes_with_beam_one(translator) -> None:
    import tensorflow as tf

    task, inp, _ = translator
    texts = tf.constant(["file not found", "%s: no such user"])
    greedy = task.ExportSignatures(inp)["greedy"](texts)
    assert greedy["translation"].shape == (2,) and greedy["scores"].shape == (2,)
    assert task.greedy.params.beam_size == 1 and task.beam.params.beam_size == 4


@pytest.mark.parametrize("text, graph_error, kind_error", [
    ("   ", "text: every message must have a character", r"text\[0\]: empty"),
    ("word " * 200, "at most 127 subword tokens", r"text\[0\]: \d+ tokens; .* at most 127"),
    (b"caf\xe9", "text: every message must be UTF-8", "text: not UTF-8"),
])
def test_bad_messages_are_refused_naming_the_input(translator, text, graph_error,
                                                   kind_error) -> None:
    import tensorflow as tf

    task, inp, kind = translator
    serve = task.ExportSignatures(inp)["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=graph_error):
        serve(tf.constant([b"ok", text if isinstance(text, bytes) else text.encode()]))
    with pytest.raises(kinds.InputError, match=kind_error):
        kind.encode([text])


def test_tflite_encoder_and_decoder_step_translate_as_the_graph(translator, tmp_path) -> None:
    """LiteRT with builtin ops only: the encoder and one decoder step per position, beam search
    looping in numpy (`liveri.artifact.beam_search`), give serving_default's translations."""
    import tensorflow as tf
    from liveri.export import tflite

    from liveri.artifact.beam_search import STEP_SIGNATURES
    from liveri.artifact.runner import Runner, tflite_model

    task, inp, kind = translator
    module = tf.Module()
    module.by_path = task.VariablesByPath()
    steps = {name: fn.get_concrete_function() for name, fn in task.StepSignatures().items()}
    tf.saved_model.save(module, str(tmp_path), signatures=steps)
    content, notes = tflite.convert(str(tmp_path), "tflite_float", ["encode", "decode_step"])
    assert notes["select_tf_ops"] is False
    model = tflite_model(content, STEP_SIGNATURES,
                         decoding=task.PostprocessingSpec(inp)["decoding"])
    texts = [t for t in inp.Examples("test")["text"]][:30] + ["%s: cannot open %s"]
    answers = Runner("tflite_float", kind, model, model.input_dtypes).predict(texts)
    graph = task.ExportSignatures(inp)["serving_default"](tf.constant(texts))
    assert [a["translation"] for a in answers] == \
        [t.decode() for t in graph["translation"].numpy()]
    np.testing.assert_allclose([a["score"] for a in answers], graph["scores"].numpy(),
                               atol=1e-4)


def test_every_placeholder_comes_through_even_from_an_untrained_model(translator) -> None:
    """Beam search copies placeholder tokens (`keep_placeholders`): a random model, which
    otherwise drops, repeats and invents them, translates each with exactly its source's."""
    import tensorflow as tf

    from liveri.placeholders import placeholders, same_placeholders

    task, inp, _ = translator
    texts = [t for t in inp.Examples("test")["text"] if placeholders(t)][:24]
    texts += ["%s: cannot open %s", "%1$s of %2$s: {0} ${HOME}"]
    signatures = task.ExportSignatures(inp)
    for name in ("serving_default", "greedy"):
        found = signatures[name](tf.constant(texts))["translation"].numpy()
        lost = [(s, t.decode()) for s, t in zip(texts, found)
                if not same_placeholders(s, t.decode())]
        assert not lost, f"{name}: {lost[:3]}"


def test_onnx_holds_the_whole_beam_search_and_translates_as_the_graph(translator,
                                                                      tmp_path) -> None:
    """tf2onnx turns the `features` signature's while loop into an ONNX Loop: onnxruntime
    translates, placeholders copied, as serving_default does, and as `greedy` does with the
    file's `greedy` input set."""
    import tensorflow as tf
    from liveri.export.exporter import onnx_entry

    from liveri.artifact.runner import Runner
    from liveri.runtimes import OnnxModel

    task, inp, kind = translator
    signatures = task.ExportSignatures(inp)
    module = tf.Module()
    module.by_path = task.VariablesByPath()
    tf.saved_model.save(module, str(tmp_path), signatures={
        name: signatures[name].get_concrete_function()
        for name in (task.onnx_signature, task.onnx_greedy_signature)})
    entry = onnx_entry(tmp_path, 17, task.onnx_signature, task.onnx_greedy_signature)
    model = OnnxModel(tmp_path / entry.path)
    assert sorted(model.input_dtypes) == ["src_ids", "src_paddings"]  # `greedy` is optional
    texts = [t for t in inp.Examples("test")["text"]][:30] + ["%s: cannot open %s"]
    for beam, signature in ((4, "serving_default"), (1, "greedy")):
        onnx_model = model.with_beam(beam)
        answers = Runner("onnx", kind, onnx_model, model.input_dtypes).predict(texts)
        graph = signatures[signature](tf.constant(texts))
        assert [a["translation"] for a in answers] == \
            [t.decode() for t in graph["translation"].numpy()], signature
        np.testing.assert_allclose([a["score"] for a in answers], graph["scores"].numpy(),
                                   atol=1e-4)
