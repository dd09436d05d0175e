"""image.DigitsVae: the reparameterized latent, KL warm-up, and a trained VAE whose test bound
beats independent pixels."""

from __future__ import annotations

import json

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


def test_a_trained_vae_bounds_the_test_likelihood_below_independent_pixels(tmp_path):
    liveri("train", "-e", "image.DigitsVae", "--logdir", str(tmp_path),
           "--set", "train.max_steps=600", "--set", "model.kl_warmup_steps=200")
    liveri("eval", "-e", "image.DigitsVae", "--logdir", str(tmp_path))
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["main_metric"] == "neg_elbo" and m["split"] == "test"
    assert m["neg_elbo"] == pytest.approx(m["reconstruction_nll"] + m["kl"], rel=1e-4)
    assert m["kl"] > 1.0  # the latent carries information
    assert m["neg_elbo"] < m["independent_pixels_nll"] - 10.0, m
