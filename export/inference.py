"""Inference functions of a trained task, held by one tf.Module that the SavedModel saves.

The task says what its signatures compute (`ExportSignatures`); this module only gives them a
home that tracks the task's variables (and the vocab tables the signatures use).
"""

from __future__ import annotations

from typing import Any

from liveri.lazy import tf


def build_inference_module(task: Any, inp: Any) -> tuple[Any, dict[str, Any]]:
    """(a tf.Module holding the task's variables, {signature name: concrete function})."""
    module = tf.Module(name="liveri_inference")
    module.by_path = task.VariablesByPath()
    functions = task.ExportSignatures(inp)
    if "serving_default" not in functions or "features" not in functions:
        raise ValueError(f"{type(task).__name__}.ExportSignatures must define serving_default "
                         "and features")
    module.functions = functions
    tokenizer = getattr(inp, "Tokenizer", None)
    if tokenizer is not None:
        module.vocab_table = tokenizer().table
    signatures = {name: fn.get_concrete_function() for name, fn in functions.items()}
    return module, signatures
