"""A Transformer-layer model trains under tfmot QAT and converts to full-int8 TFLite.

tfmot needs Keras 2 (`tf_keras`), chosen by TF_USE_LEGACY_KERAS=1 before TensorFlow is
imported; this process already imported TensorFlow, so the model trains in a subprocess.
"""

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import json, os
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import numpy as np
    import tensorflow as tf
    import tf_keras as keras
    from ai_edge_litert.interpreter import Interpreter
    from liveri.runtimes import TfliteModel
    from liveri.train.layers import Linear, TransformerEncoderLayer, keras_qat

    tf.keras.utils.set_random_seed(0)
    T, D = 6, 8
    inputs = keras.Input((T, D))
    h = keras_qat.Annotated(TransformerEncoderLayer.Params().Set(model_dims=D, num_heads=2))(
        inputs)
    h = keras.layers.GlobalAveragePooling1D()(h)
    logits = keras_qat.Annotated(Linear.Params().Set(input_dims=D, output_dims=3))(h)
    model = keras_qat.QuantizeApply(keras.Model(inputs, logits))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, T, D)).astype(np.float32)
    y = (x[:, :, 0].mean(1) > 0).astype(np.int32) + (x[:, :, 1].mean(1) > 0)
    model.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    losses = model.fit(x, y, epochs=4, batch_size=64, verbose=0).history["loss"]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[i:i + 1]] for i in range(64))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    blob = converter.convert()

    tflite = TfliteModel(blob)
    (out,) = tflite(**{next(iter(tflite.inputs)): x[:100]}).values()
    agree = float((out.argmax(-1) == model(x[:100]).numpy().argmax(-1)).mean())
    interpreter = Interpreter(model_content=blob)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    float_ops, ops = set(), set()
    for op in interpreter._get_ops_details():
        ops.add(op["op_name"])
        used = [i for i in list(op["inputs"]) + list(op["outputs"]) if i >= 0]
        if any(tensors[i]["dtype"] == np.float32 for i in used):
            float_ops.add(op["op_name"])
    print(json.dumps({
        "losses": losses, "agree": agree, "ops": sorted(ops), "float_ops": sorted(float_ops),
        "io": [str(np.dtype(d["dtype"])) for d in
               list(tflite.inputs.values()) + list(tflite.outputs.values())],
    }))
''')


def test_transformer_layer_model_trains_under_qat_and_converts_to_full_int8(tmp_path):
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["losses"][-1] < result["losses"][0]
    assert result["io"] == ["int8", "int8"]
    assert {"FULLY_CONNECTED", "BATCH_MATMUL", "SOFTMAX"} <= set(result["ops"])
    # Only the input's requantization touches float; every compute op runs in int8.
    assert set(result["float_ops"]) <= {"QUANTIZE", "DEQUANTIZE"}
    assert result["agree"] >= 0.9
