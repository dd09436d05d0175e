"""Vision experiments."""

from __future__ import annotations

from liveri.train.experiment import Experiment
from liveri.train.input.digits import DigitsInput
from liveri.train.registry import register
from liveri.train.tasks.image_classifier import ImageClassifier
from liveri.train.tasks.vae import ImageVae

from liveri.params import Params


@register("image.Digits")
class Digits(Experiment):
    """A small conv net on scikit-learn's 8x8 digit scans: the default of `liveri run`."""

    def Task(self) -> Params:
        p = ImageClassifier.Params()
        p.name = "digits"
        p.image_height, p.image_width, p.pixel_max = 8, 8, 16.0
        p.conv.Set(channels=(32, 64), kernel=(3, 3), pooling="max")
        p.hidden_dims = 128
        p.dropout.keep_prob = 0.7
        p.label_smoothing = 0.05
        return p

    def Input(self) -> Params:
        return DigitsInput.Params()

    def Train(self) -> Params:
        return super().Train().Set(
            max_steps=1200, batch_size=64, learning_rate=3e-3, lr_schedule="cosine",
            warmup_steps=50, checkpoint_every=200, eval_every=400, log_every=50)

    def Release(self) -> Params:
        return super().Release().Set(
            latency_p99_ms=25.0, min_metric=0.97, max_int8_metric_drop=0.01,
            max_bundle_bytes=500_000, min_server_qps=150.0, max_regression_pct=50.0)


@register("image.DigitsVae")
class DigitsVae(Experiment):
    """A convolutional VAE on the same scans: a 16-dim Gaussian latent, categorical pixels
    (0..16), KL warm-up; judged by the test negative ELBO in nats per image. Exported, the
    decoder (latent -> pixels) is judged by reconstruction_mae (see ImageVae)."""

    def Task(self) -> Params:
        p = ImageVae.Params()
        p.name = "digits_vae"
        p.image_height, p.image_width, p.pixel_max = 8, 8, 16
        p.conv.Set(channels=(32, 64), kernel=(3, 3), pooling="max")
        p.hidden_dims, p.latent_dims, p.decoder_channels = 256, 16, 32
        p.kl_warmup_steps = 1000
        return p

    def Input(self) -> Params:
        return DigitsInput.Params()

    def Train(self) -> Params:
        return super().Train().Set(
            max_steps=3000, batch_size=64, learning_rate=2e-3, lr_schedule="cosine",
            warmup_steps=100, checkpoint_every=500, eval_every=500, log_every=100)

    def Release(self) -> Params:
        # Judged exported by reconstruction_mae (pixel levels 0..16; trained: 1.00): every
        # artifact's decoded test images within 0.1 level of the SavedModel's on average.
        return super().Release().Set(min_metric=1.5, max_int8_metric_drop=0.1,
                                     max_bundle_bytes=500_000)
