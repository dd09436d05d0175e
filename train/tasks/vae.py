"""A convolutional VAE on small grey images whose pixels take `pixel_max + 1` levels.

Encoder: the conv stack and a feed-forward layer to a Gaussian latent (mean, log-variance).
Decoder: latent -> feed-forward -> [H/2, W/2, C] -> depth-to-space -> a conv to per-pixel logits
over the levels. The pixels are integers (the digits scans: 0..16), so the likelihood is a
categorical per pixel and the negative ELBO is an exact bound, in nats per image, on the data's
negative log-likelihood: reconstruction NLL plus KL to the N(0, I) prior. Training weighs the
KL by min(1, step / kl_warmup_steps) (KL warm-up); evaluation reports the full bound, a
one-draw estimate (it moves by about half a nat between evaluations of one checkpoint).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from liveri.train.layers.conv import Conv2D
from liveri.train.layers.linear import FeedForward, Linear
from liveri.train.layers.sampling import GaussianSample
from liveri.train.layers.variational_noise import CurrentStep
from liveri.train.tasks.conv_image import ConvImageTask

from liveri.errors import UsageError
from liveri.lazy import tf
from liveri.params import Params


class ImageVae(ConvImageTask):
    input_kind = "latent"
    main_metric = "neg_elbo"
    higher_is_better = False

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("hidden_dims", 256, "Width of the encoder's and the decoder's hidden layer.")
        p.Define("latent_dims", 16, "Size of the Gaussian latent.")
        p.Define("decoder_channels", 32, "Channels of the decoder's half-resolution map.")
        p.Define("kl_warmup_steps", 1000, "Steps over which the KL weight grows from 0 to 1.")
        p.Define("sample", GaussianSample.Params(), "The reparameterized latent draw.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if p.pixel_max < 1 or p.pixel_max != int(p.pixel_max):
            raise ValueError(f"{self.path}: pixel_max must be a whole number >= 1 (pixels take "
                             f"the levels 0..pixel_max), got {p.pixel_max}")
        if p.image_height % 2 or p.image_width % 2:
            raise ValueError(f"{self.path}: image_height and image_width must be even (the "
                             "decoder doubles a half-size map), got "
                             f"{p.image_height}x{p.image_width}")
        self.levels = levels = int(p.pixel_max) + 1
        self.enc_hidden = self.CreateChild("enc_hidden", FeedForward.Params().Set(
            input_dims=self.flat_dims, output_dims=p.hidden_dims))
        self.mean = self.CreateChild("mean", Linear.Params().Set(
            input_dims=p.hidden_dims, output_dims=p.latent_dims))
        self.log_var = self.CreateChild("log_var", Linear.Params().Set(
            input_dims=p.hidden_dims, output_dims=p.latent_dims))
        self.sample = self.CreateChild("sample", p.sample)
        self.half_shape = (p.image_height // 2, p.image_width // 2, p.decoder_channels)
        self.dec_hidden = self.CreateChild("dec_hidden", FeedForward.Params().Set(
            input_dims=p.latent_dims, output_dims=p.hidden_dims))
        self.dec_map = self.CreateChild("dec_map", FeedForward.Params().Set(
            input_dims=p.hidden_dims,
            output_dims=self.half_shape[0] * self.half_shape[1] * self.half_shape[2]))
        self.dec_logits = self.CreateChild("dec_logits", Conv2D.Params().Set(
            filter_shape=(3, 3, p.decoder_channels // 4, levels), activation="none"))

    def Encode(self, features: Any) -> tuple[Any, Any]:
        """Features -> the latent's (mean, log-variance), each [N, latent_dims]."""
        x = self.enc_hidden(self.ConvFeatures(features))
        return tf.cast(self.mean(x), tf.float32), tf.cast(self.log_var(x), tf.float32)

    def DecodeLogits(self, z: Any) -> Any:
        """Latents [N, D] -> per-pixel logits over the levels [N, H, W, levels]."""
        x = self.dec_map(self.dec_hidden(z))
        x = tf.nn.depth_to_space(tf.reshape(x, (-1, *self.half_shape)), 2)
        return tf.cast(self.dec_logits(x), tf.float32)

    def ComputeLoss(self, batch: dict[str, Any], training: bool) -> tuple[Any, dict[str, Any]]:
        pixels = tf.cast(batch["pixels"], tf.int32)
        mean, log_var = self.Encode(self.Preprocess(batch["pixels"]))
        logits = self.DecodeLogits(self.sample(mean, log_var))
        nll = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.clip_by_value(pixels, 0, self.levels - 1), logits=logits), [1, 2])
        kl = self.sample.KlToPrior(mean, log_var)
        count = tf.cast(tf.shape(nll)[0], tf.float32)
        loss = tf.reduce_mean(nll + self._KlWeight(training) * kl)
        metrics = {"neg_elbo": (tf.reduce_sum(nll + kl), count),
                   "reconstruction_nll": (tf.reduce_sum(nll), count),
                   "kl": (tf.reduce_sum(kl), count),
                   "loss": (tf.reduce_sum(nll + kl), count)}
        return loss, metrics

    def ExtraMetrics(self, inp: Any, split: str, metrics: dict[str, float]) -> dict[str, float]:
        """The NLL (nats per image) of independent pixels, each a categorical fitted to the
        train split's counts (add-one): the bound a latent must beat to be worth its KL."""
        levels = self.levels
        train = np.clip(inp.Examples("train")["pixels"].astype(np.int64), 0, levels - 1)
        counts = 1.0 + np.stack([(train == v).sum(0) for v in range(levels)], -1)
        log_p = np.log(counts / counts.sum(-1, keepdims=True))  # [H, W, levels]
        test = np.clip(inp.Examples(split)["pixels"].astype(np.int64), 0, levels - 1)
        h, w = np.meshgrid(np.arange(test.shape[1]), np.arange(test.shape[2]), indexing="ij")
        nll = -log_p[h[None], w[None], test].sum((1, 2))
        return {"independent_pixels_nll": float(nll.mean())}

    def ExportSignatures(self, inp: Any) -> dict[str, Any]:
        raise UsageError(f"{self.params.name}: exporting a VAE (the decoder as latent -> pixels, "
                         "the encoder as a second signature) is not built yet; train and eval "
                         "work")

    def _KlWeight(self, training: bool) -> Any:
        step = CurrentStep()
        warmup = self.params.kl_warmup_steps
        if not training or step is None or warmup <= 0:
            return 1.0
        return tf.minimum(1.0, tf.cast(step, tf.float32) / float(warmup))
