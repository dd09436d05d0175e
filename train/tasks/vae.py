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
from liveri.train.layers.image_decoder import ImageDecoder
from liveri.train.layers.linear import FeedForward, Linear
from liveri.train.layers.sampling import GaussianSample
from liveri.train.layers.variational_noise import CurrentStep
from liveri.train.tasks.image_generator import ImageGeneratorTask, in_chunks

from liveri.lazy import tf
from liveri.params import Params


class ImageVae(ImageGeneratorTask):
    main_metric = "neg_elbo"
    higher_is_better = False
    # Exported, the decoder answers a latent with an image: judged by how far the images it
    # decodes from the test images' posterior means are from those images.
    artifact_metric = "reconstruction_mae"

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("hidden_dims", 256, "Width of the encoder's and the decoder's hidden layer.")
        p.Define("decoder_channels", 32, "Channels of the decoder's half-resolution map.")
        p.Define("kl_warmup_steps", 1000, "Steps over which the KL weight grows from 0 to 1.")
        p.Define("sample", GaussianSample.Params(), "The reparameterized latent draw.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        self.levels = levels = int(p.pixel_max) + 1
        self.enc_hidden = self.CreateChild("enc_hidden", FeedForward.Params().Set(
            input_dims=self.flat_dims, output_dims=p.hidden_dims))
        self.mean = self.CreateChild("mean", Linear.Params().Set(
            input_dims=p.hidden_dims, output_dims=p.latent_dims))
        self.log_var = self.CreateChild("log_var", Linear.Params().Set(
            input_dims=p.hidden_dims, output_dims=p.latent_dims))
        self.sample = self.CreateChild("sample", p.sample)
        self.decoder = self.CreateChild("decoder", ImageDecoder.Params().Set(
            latent_dims=p.latent_dims, hidden_dims=p.hidden_dims, image_height=p.image_height,
            image_width=p.image_width, channels=p.decoder_channels, output_channels=levels))

    def Encode(self, features: Any) -> tuple[Any, Any]:
        """Features -> the latent's (mean, log-variance), each [N, latent_dims]."""
        x = self.enc_hidden(self.ConvFeatures(features))
        return tf.cast(self.mean(x), tf.float32), tf.cast(self.log_var(x), tf.float32)

    def DecodeLogits(self, z: Any) -> Any:
        """Latents [N, D] -> per-pixel logits over the levels [N, H, W, levels]."""
        return self.decoder(z)

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
        train split's counts (add-one): the bound a latent must beat to be worth its KL; and
        the exported decoder's metric, the mean absolute pixel error of decoding each test
        image's posterior mean."""
        levels = self.levels
        train = np.clip(inp.Examples("train")["pixels"].astype(np.int64), 0, levels - 1)
        counts = 1.0 + np.stack([(train == v).sum(0) for v in range(levels)], -1)
        log_p = np.log(counts / counts.sum(-1, keepdims=True))  # [H, W, levels]
        test = np.clip(inp.Examples(split)["pixels"].astype(np.int64), 0, levels - 1)
        h, w = np.meshgrid(np.arange(test.shape[1]), np.arange(test.shape[2]), indexing="ij")
        nll = -log_p[h[None], w[None], test].sum((1, 2))
        decoded = in_chunks(self.DecodePixels, self.ServingInputs({"pixels": test})["latent"])
        return {"independent_pixels_nll": float(nll.mean()),
                **self.AnswerMetrics([{"pixels": d} for d in decoded], {"pixels": test})}

    def DecodePixels(self, latent: Any) -> Any:
        """Latents [N, D] -> the most likely level of each pixel, [N, H, W] int32."""
        return tf.argmax(self.DecodeLogits(latent), -1, output_type=tf.int32)

    def GeneratePixels(self, latent: Any) -> Any:
        return tf.cast(self.DecodePixels(latent), tf.float32)

    def ExportSignatures(self, inp: Any) -> dict[str, Any]:
        """The decoder's (see ImageGeneratorTask), and encode: the encoder (pixels ->
        posterior)."""
        p = self.params

        def Encode(pixels: Any) -> dict[str, Any]:
            mean, log_var = self.Encode(self.Preprocess(pixels))
            return {"latent_mean": mean, "latent_log_var": log_var}

        return {**super().ExportSignatures(inp), "encode": tf.function(Encode, input_signature=[
            tf.TensorSpec([None, p.image_height, p.image_width], tf.uint8, "pixels")])}

    def ServingInputs(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The posterior means of `raw`'s images: the decoder's answers are then comparable
        with the images themselves."""
        means = in_chunks(lambda x: self.Encode(self.Preprocess(x))[0], raw["pixels"])
        return {"latent": means.astype(np.float32)}

    def AnswerMetrics(self, answers: list[dict[str, Any]],
                      raw: dict[str, np.ndarray]) -> dict[str, float]:
        decoded = np.array([a["pixels"] for a in answers], np.float32)
        errors = np.abs(decoded - np.asarray(raw["pixels"][: len(decoded)], np.float32))
        return {"reconstruction_mae": float(errors.mean())}

    def _KlWeight(self, training: bool) -> Any:
        step = CurrentStep()
        warmup = self.params.kl_warmup_steps
        if not training or step is None or warmup <= 0:
            return 1.0
        return tf.minimum(1.0, tf.cast(step, tf.float32) / float(warmup))

