"""image.DigitsGan: one loss that trains two players, a generator that learns the digits, and
its images exported, served and drawn on a device like the VAE's."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import liveri


def test_one_loss_gives_each_network_its_own_player_s_gradient():
    """The discriminator's weights get d(discriminator loss) only, the generator's weights
    d(generator loss) only: the generator's loss must not train the discriminator."""
    from liveri.train.registry import experiment_params

    from liveri.lazy import tf

    task = experiment_params("image.DigitsGan", []).model.Instantiate()
    pixels = tf.constant(np.random.default_rng(0).integers(0, 17, (16, 8, 8)), tf.uint8)
    disc = [v for v in task.trainable_variables if "generator" not in v.name]
    gen = [v for v in task.trainable_variables if "generator" in v.name]
    assert disc and gen

    def grads(pick: str) -> list:
        tf.random.set_seed(7)  # the same latents in every pass
        with tf.GradientTape() as tape:
            loss, metrics = task.ComputeLoss({"pixels": pixels}, training=False)
            if pick != "loss":
                total, count = metrics[pick]
                loss = total / count
        return tape.gradient(loss, disc + gen)

    combined = grads("loss")
    d_only, g_only = grads("discriminator_loss"), grads("generator_loss")
    for i in range(len(disc)):
        np.testing.assert_allclose(combined[i], d_only[i], rtol=1e-4, atol=1e-6)
    for i in range(len(disc), len(disc) + len(gen)):
        assert d_only[i] is None  # the discriminator's loss sees generated images as constants
        np.testing.assert_allclose(combined[i], g_only[i], rtol=1e-4, atol=1e-6)
    # ...and the generator's loss alone would push the discriminator's weights.
    assert max(float(tf.reduce_max(tf.abs(g))) for g in g_only[:len(disc)]) > 1e-4


def test_the_r1_penalty_grows_with_the_discriminator_s_slope_at_real_images():
    from liveri.train.registry import experiment_params

    from liveri.lazy import tf

    pixels = tf.constant(np.random.default_rng(0).integers(0, 17, (16, 8, 8)), tf.uint8)
    losses = {}
    for gamma in (0.0, 10.0):
        task = experiment_params("image.DigitsGan", [f"model.r1_gamma={gamma}"]).model
        task = task.Instantiate()
        tf.random.set_seed(7)
        losses[gamma] = float(task.ComputeLoss({"pixels": pixels}, training=True)[0])
    assert losses[10.0] > losses[0.0]


def test_generated_images_are_judged_by_a_frechet_distance_in_the_classifier_s_eyes(
        gan_logdir, vae_logdir, digits_logdir, tmp_path):
    from liveri.benchmarks import generative_quality as gq

    from liveri.frechet import frechet_distance

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((500, 4)), rng.standard_normal((500, 4)) + [3.0, 0, 0, 0]
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-4)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-6)
    assert frechet_distance(a, b) == pytest.approx(9.0, rel=0.1)  # the means' distance^2

    assert gq.main(["--classifier_logdir", str(digits_logdir), "--vae_logdir", str(vae_logdir),
                    "--gan_logdir", str(gan_logdir), "--samples", "400",
                    "--out", str(tmp_path)]) == 0
    sets = json.loads((tmp_path / "quality.json").read_text())["sets"]
    floor = sets["real train images (floor)"]["frechet_distance"]
    baseline = sets["class means + pixel noise (baseline)"]["frechet_distance"]
    for name in ("image.DigitsVae samples", "image.DigitsGan samples"):
        judged = sets[name]
        assert 0 < floor < judged["frechet_distance"] and floor < baseline
        assert sum(judged["class_shares"]) == pytest.approx(1.0)
        assert len(judged["class_shares"]) == 10
        assert f"| {name} (400) |" in (tmp_path / "quality.md").read_text()


def test_a_trained_generator_draws_images_nearer_the_digits_than_it_did_untrained(gan_logdir,
                                                                               tmp_path):
    log = [json.loads(line) for line in (gan_logdir / "train_log.jsonl").read_text().splitlines()]
    dev = [r["dev"] for r in log if "dev" in r]
    first, best = dev[0]["pixel_frechet_distance"], min(d["pixel_frechet_distance"] for d in dev)
    assert best < 0.6 * first, [d["pixel_frechet_distance"] for d in dev]
    # Both networks are still playing: neither wins outright.
    assert 0.5 < dev[-1]["discriminator_accuracy"] < 0.99, dev[-1]
    liveri("eval", "-e", "image.DigitsGan", "--logdir", str(gan_logdir))
    m = json.loads((gan_logdir / "metrics.json").read_text())
    assert m["main_metric"] == "pixel_frechet_distance" and m["split"] == "test"


def test_the_exported_generator_draws_the_same_images_served_and_on_a_device(gan_logdir,
                                                                          tmp_path):
    import tensorflow as tf

    from liveri.artifact import kinds, manifest

    repo = tmp_path / "repo"
    liveri("export", "-e", "image.DigitsGan", "--logdir", str(gan_logdir), "--model_repo",
           str(repo), "--formats", "tflite_float,onnx")
    version = repo / "image_digitsgan" / "1"
    m = manifest.load(version)
    assert m.main_metric == "pixel_frechet_distance" and m.input_kind == "latent"
    parity = json.loads((version / "liveri" / "parity.json").read_text())["artifacts"]
    eval_fd = json.loads((gan_logdir / "metrics.json").read_text())["pixel_frechet_distance"]
    assert parity["saved_model"]["pixel_frechet_distance"] == pytest.approx(eval_fd, rel=1e-6)
    for fmt in ("tflite_float", "onnx"):  # a pixel near a half level may round the other way
        assert parity[fmt]["agreement"] >= 0.95, parity[fmt]
    # TFLite converts the float levels (`features`); ONNX the served uint8 levels, as the
    # SavedModel's serving_default answers, so rounded: up to half a level from the float.
    assert parity["tflite_float"]["max_abs_score_diff"] < 1e-3, parity["tflite_float"]

    loaded = tf.saved_model.load(str(version))
    drawn = kinds.load(m.preprocessing, m.postprocessing, {}).sample(4, 3)
    expected = loaded.signatures["serving_default"](latent=tf.constant(drawn))["pixels"]
    assert expected.dtype == tf.uint8 and int(tf.reduce_max(expected)) <= 16

    # Served over REST, as TF Serving's JSON API answers a latent batch.
    import urllib.request

    from liveri.serve.server import ModelServer

    with ModelServer(model_repo=str(repo), port=0, rest_api_port=0, metrics_port=0) as server:
        body = json.dumps({"instances": drawn.tolist()}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.rest_port}/v1/models/image_digitsgan:predict", body)
        with urllib.request.urlopen(request, timeout=30) as reply:
            served = np.array(json.loads(reply.read())["predictions"])
    assert served.shape == (4, 8, 8) and (served == expected.numpy()).all()

    liveri("bundle", "--model_repo", str(repo), "--name", "image_digitsgan", "--format",
           "tflite_float", "--out", str(tmp_path / "gan.zip"))
    run = subprocess.run([sys.executable, "-m", "liveri.mobile", "run", str(tmp_path / "gan.zip"),
                          "--sample", "4", "--seed", "3", "--out", str(tmp_path / "samples")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    samples = np.load(tmp_path / "samples" / "samples.npy")
    assert np.sum(samples != expected.numpy()) <= 1  # a pixel near a half level may flip
