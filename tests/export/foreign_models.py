"""Small models trained elsewhere, as `liveri export --saved_model/--keras` receives them.

Each builder writes its model under `path` and returns it; all build in about a second on CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SHAPE = (8, 8, 1)
CLASSES = 3


def keras_image_model(path: Path) -> Path:
    """A Keras 3 functional image classifier (softmax over 3 classes) saved as `.keras`."""
    import keras

    keras.utils.set_random_seed(0)
    image = keras.Input(shape=IMAGE_SHAPE, name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu")(image)
    x = keras.layers.GlobalAveragePooling2D()(x)
    probs = keras.layers.Dense(CLASSES, activation="softmax", name="probs")(x)
    model = keras.Model(image, probs)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


def tf_keras_model(path: Path) -> Path:
    """A tf_keras (Keras 2) functional model saved as `.keras`, which Keras 3 cannot load."""
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    features = tf_keras.Input(shape=(4,), name="features")
    probs = tf_keras.layers.Dense(CLASSES, activation="softmax")(features)
    model = tf_keras.Model(features, probs)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


def multi_signature_model(path: Path) -> Path:
    """tf.saved_model.save of a tf.Module with three signatures: `serving_default` (float
    features [N, 4] -> class scores [N, 3] and a score sum [N]), `embed` (features -> a
    [N, 2] embedding) and `scale` (a float [N] times two, int64 count in)."""
    import tensorflow as tf

    rng = np.random.default_rng(0)

    class Model(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(rng.normal(size=(4, CLASSES)).astype(np.float32))
            self.b = tf.Variable(np.zeros(CLASSES, np.float32))
            self.e = tf.Variable(rng.normal(size=(4, 2)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="features")])
        def classify(self, features):
            logits = tf.matmul(features, self.w) + self.b
            return {"scores": tf.nn.softmax(logits), "total": tf.reduce_sum(logits, axis=1)}

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="features")])
        def embed(self, features):
            return {"embedding": tf.tanh(tf.matmul(features, self.e))}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="value"),
                                      tf.TensorSpec([None], tf.int64, name="count")])
        def scale(self, value, count):
            return {"scaled": value * 2.0 + tf.cast(count, tf.float32)}

    module = Model()
    tf.saved_model.save(module, str(path), signatures={
        "serving_default": module.classify, "embed": module.embed, "scale": module.scale})
    return path


def half_plus_two(path: Path) -> Path:
    """TF Serving's half_plus_two as it was made: a TF1 graph (y = a*x + b with variables a=0.5,
    b=2) saved by SavedModelBuilder with a `tensorflow/serving/predict` signature."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        a = v1.Variable(0.5, name="a")
        b = v1.Variable(2.0, name="b")
        x = v1.placeholder(tf.float32, shape=[None, 1], name="x")
        y = tf.add(tf.multiply(a, x), b, name="y")
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            signature = v1.saved_model.signature_def_utils.build_signature_def(
                inputs={"x": v1.saved_model.utils.build_tensor_info(x)},
                outputs={"y": v1.saved_model.utils.build_tensor_info(y)},
                method_name=v1.saved_model.signature_constants.PREDICT_METHOD_NAME)
            builder = v1.saved_model.builder.SavedModelBuilder(str(path))
            builder.add_meta_graph_and_variables(
                sess, [v1.saved_model.tag_constants.SERVING],
                signature_def_map={"serving_default": signature}, strip_default_attrs=True)
            builder.save()
    return path


def string_model(path: Path) -> Path:
    """Text in (string [N]), class scores out: words hashed into 64 buckets, embedded, averaged
    and scored; a second, float input `bias` [N, 3] is added to the logits."""
    import tensorflow as tf

    rng = np.random.default_rng(1)

    class Model(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = tf.Variable(rng.normal(size=(64, 8)).astype(np.float32))
            self.w = tf.Variable(rng.normal(size=(8, CLASSES)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                      tf.TensorSpec([None, CLASSES], tf.float32, name="bias")])
        def serve(self, text, bias):
            words = tf.strings.split(tf.strings.lower(text))
            ids = tf.strings.to_hash_bucket_fast(words, 64)
            vectors = tf.reduce_mean(tf.gather(self.embedding, ids), axis=1)
            logits = tf.matmul(vectors, self.w) + bias
            return {"scores": tf.nn.softmax(logits)}

    module = Model()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def string_examples(n: int = 6) -> dict[str, np.ndarray]:
    """Examples of `string_model`, as `np.savez(FILE, **string_examples())` stores them."""
    words = ["the cat sat", "a dog ran far", "hello world", "green tea", "one", "big red bus"]
    text = np.array([words[i % len(words)] for i in range(n)])  # str: saves without pickle
    bias = np.random.default_rng(2).normal(size=(n, CLASSES)).astype(np.float32)
    return {"text": text, "bias": bias}
