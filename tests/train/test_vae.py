"""image.DigitsVae: the reparameterized latent, KL warm-up, a trained VAE whose test bound
beats independent pixels, and its decoder exported and run on a device."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import liveri


def test_gaussian_sample_draws_around_the_mean_and_its_kl_is_the_closed_form():
    from liveri.train.layers.sampling import GaussianSample

    from liveri.lazy import tf

    layer = GaussianSample.Params().Set(name="z").Instantiate()
    mean = tf.fill([20000, 2], 3.0)
    log_var = tf.fill([20000, 2], float(np.log(0.25)))
    z = layer(mean, log_var).numpy()
    assert abs(z.mean() - 3.0) < 0.02 and abs(z.std() - 0.5) < 0.02
    assert np.array_equal(layer(mean, log_var, mode=True).numpy(), mean.numpy())
    kl = layer.KlToPrior(tf.constant([[1.0, 0.0]]), tf.constant([[0.0, float(np.log(2.0))]])).numpy()
    # 0.5 * (mu^2 + var - 1 - log var) per dimension: 0.5 + 0.5 * (1 - log 2)
    assert kl[0] == pytest.approx(0.5 + 0.5 * (1.0 - np.log(2.0)), rel=1e-5)


def test_kl_weight_warms_up_with_the_step_and_is_one_in_eval():
    from liveri.train.layers import variational_noise
    from liveri.train.registry import experiment_params

    from liveri.lazy import tf

    task = experiment_params("image.DigitsVae", ["model.kl_warmup_steps=100"]).model.Instantiate()
    with variational_noise.Step(tf.constant(25, tf.int64)):
        assert float(task._KlWeight(training=True)) == pytest.approx(0.25)
        assert float(task._KlWeight(training=False)) == 1.0
    assert float(task._KlWeight(training=True)) == 1.0  # outside training


def mobile_run(bundle, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "liveri.mobile", "run", str(bundle),
                           *map(str, args)], capture_output=True, text=True, timeout=120)


def test_a_trained_vae_bounds_the_test_likelihood_below_independent_pixels(vae_logdir):
    liveri("eval", "-e", "image.DigitsVae", "--logdir", str(vae_logdir))
    m = json.loads((vae_logdir / "metrics.json").read_text())
    assert m["main_metric"] == "neg_elbo" and m["split"] == "test"
    assert m["neg_elbo"] == pytest.approx(m["reconstruction_nll"] + m["kl"], rel=1e-4)
    assert m["kl"] > 1.0  # the latent carries information
    assert m["neg_elbo"] < m["independent_pixels_nll"] - 10.0, m
    # What the exported decoder is judged by: 1.0 after the default 3,000 steps, ~2 after 600;
    # a decoder answering blank images would score ~4.9 (the scans' mean level).
    assert 0 < m["reconstruction_mae"] < 3.0, m


def test_the_exported_decoder_answers_a_latent_with_the_same_image_everywhere(vae_logdir,
                                                                           tmp_path):
    import tensorflow as tf

    from liveri.artifact import kinds, manifest

    repo = tmp_path / "repo"
    liveri("export", "-e", "image.DigitsVae", "--logdir", str(vae_logdir), "--model_repo",
           str(repo), "--formats", "tflite_float,tflite_int8,onnx")
    version = repo / "image_digitsvae" / "1"
    m = manifest.load(version)
    assert m.main_metric == "reconstruction_mae" and m.input_kind == "latent"
    parity = json.loads((version / "liveri" / "parity.json").read_text())["artifacts"]
    eval_mae = json.loads((vae_logdir / "metrics.json").read_text())["reconstruction_mae"]
    assert parity["saved_model"]["reconstruction_mae"] == pytest.approx(eval_mae, abs=1e-6)
    # Float artifacts decode the same pixels, but for one whose two likeliest levels tie within
    # float rounding: another runtime's kernels may flip it (1 pixel of 21,504 seen).
    for fmt in ("tflite_float", "onnx"):
        assert parity[fmt]["agreement"] >= 0.99, parity[fmt]
        assert parity[fmt]["reconstruction_mae"] == pytest.approx(eval_mae, abs=1e-3)
    assert parity["tflite_int8"]["reconstruction_mae"] < eval_mae + 0.2

    loaded = tf.saved_model.load(str(version))
    latent = np.random.default_rng(0).standard_normal((1, 16)).astype(np.float32)
    pixels = loaded.signatures["serving_default"](latent=tf.constant(latent))["pixels"]
    assert pixels.dtype == tf.uint8 and pixels.shape == (1, 8, 8)
    assert int(tf.reduce_max(pixels)) <= 16
    posterior = loaded.signatures["encode"](pixels=pixels)
    assert posterior["latent_mean"].shape == (1, 16)

    # Served: TF Serving's own client sends a latent batch and gets the images back.
    import grpc
    from liveri.serve.server import ModelServer
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    with ModelServer(model_repo=str(repo), port=0, rest_api_port=0, metrics_port=0) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "image_digitsvae"
            request.inputs["latent"].CopyFrom(tf.make_tensor_proto(np.repeat(latent, 3, 0)))
            reply = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                request, timeout=30)
    served = tf.make_ndarray(reply.outputs["pixels"])
    assert served.shape == (3, 8, 8) and (served == pixels.numpy()).all()

    # On a device: the float bundle, LiteRT only, answers the SavedModel's image.
    liveri("bundle", "--model_repo", str(repo), "--name", "image_digitsvae", "--format",
           "tflite_float", "--out", str(tmp_path / "vae.zip"))
    np.save(tmp_path / "z.npy", latent[0])
    run = mobile_run(tmp_path / "vae.zip", "--input-file", tmp_path / "z.npy")
    assert run.returncode == 0, run.stderr[-2000:]
    answered = np.array(json.loads(run.stdout.strip().splitlines()[-1])["pixels"])
    assert np.sum(answered != pixels[0].numpy()) <= 1  # a near-tie may flip (see above)
    # --sample N --seed S: the same latents the kind draws for the SavedModel, the same images.
    run = mobile_run(tmp_path / "vae.zip", "--sample", "4", "--seed", "7", "--out",
                     tmp_path / "samples")
    assert run.returncode == 0, run.stderr[-2000:]
    drawn = kinds.load(m.preprocessing, m.postprocessing, {}).sample(4, 7)
    expected = loaded.signatures["serving_default"](latent=tf.constant(drawn))["pixels"].numpy()
    samples = np.load(tmp_path / "samples" / "samples.npy")
    assert samples.shape == (4, 8, 8) and np.sum(samples != expected) <= 1
    from PIL import Image
    with Image.open(tmp_path / "samples" / "sample_003.png") as png:
        shown = np.asarray(png)
    assert shown.shape == (64, 64) and (
        shown[::8, ::8] == np.rint(samples[3].astype(np.float32) * 255 / 16)).all()
    assert (tmp_path / "samples" / "grid.png").stat().st_size > 0
    no_out = mobile_run(tmp_path / "vae.zip", "--sample", "4")
    assert no_out.returncode == 2 and "--out" in no_out.stderr

    np.save(tmp_path / "bad.npy", latent[0, :3])
    bad = mobile_run(tmp_path / "vae.zip", "--input-file", tmp_path / "bad.npy")
    assert bad.returncode == 2 and "latent: expected shape [16]" in bad.stderr
