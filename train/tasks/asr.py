"""Speech recognition with CTC: log-mel frames -> conv front end -> encoder -> characters.

The seed's Librispeech shape, small enough for 2 CPU cores: strided convolutions shorten the
frames (4x by default), a Transformer encoder (or an LSTM stack) reads them, a softmax over the
character vocab scores each frame, with class 0 (the vocab's <pad>, never a target) as the CTC
blank. Features are normalized per utterance inside the model (mean and variance of each mel
bin over the real frames), so a device only computes plain log-mels.

The exported graph takes waveforms and answers with the transcript; its `features` signature
(log-mels -> per-frame log-probs) is what TFLite and ONNX run.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from liveri.train.input import tokenizers
from liveri.train.layers.conv import Conv2D
from liveri.train.layers.ctc import CtcLoss
from liveri.train.layers.linear import Linear
from liveri.train.layers.lstm import LstmStack
from liveri.train.layers.softmax import Softmax
from liveri.train.layers.transformer import TransformerEncoder
from liveri.train.tasks.base_task import BaseTask

from liveri.audio import TOLERANCE, decoding_table
from liveri.lazy import tf
from liveri.params import Params

BLANK_ID = tokenizers.PAD_ID


class CtcAsr(BaseTask):
    input_kind = "audio"
    main_metric = "cer"
    higher_is_better = False
    onnx_signature = "features"  # string ops (the transcript) do not convert through tf2onnx

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("vocab_size", 32, "Classes of the softmax: the input's char vocab, with "
                 "<pad> (id 0) as the CTC blank.")
        p.Define("num_mel_bins", 80, "Log-mel features per frame (the input's num_mel_bins).")
        p.Define("conv_filter_shapes", [(3, 3, 1, 32), (3, 3, 32, 32)],
                 "Front-end convolutions over [time, mel, channels]: (h, w, in, out) each.",
                 type=list)
        p.Define("conv_filter_strides", [(2, 2), (2, 2)],
                 "Stride (time, mel) of each front-end convolution.", type=list)
        p.Define("model_dims", 128, "Width of the encoder's input (the projected conv output).")
        p.Define("encoder", TransformerEncoder.Params(),
                 "TransformerEncoder or LstmStack params; its input width is set to model_dims.")
        p.Define("freq_mask_bins", 0, "Training only: zero up to this many adjacent mel bins per "
                 "utterance (SpecAugment); 0 disables.")
        p.Define("freq_shift_bins", 0, "Training only: shift each utterance's mel bins by up to "
                 "this many, up or down (edges repeated): another voice's formants; 0 disables.")
        p.Define("time_mask_frames", 0, "Training only: zero up to this many adjacent frames per "
                 "utterance (SpecAugment); 0 disables.")
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        if len(p.conv_filter_shapes) != len(p.conv_filter_strides):
            raise ValueError(f"{self.path}: conv_filter_shapes and conv_filter_strides need one "
                             "entry per convolution")
        self.convs = []
        width = p.num_mel_bins
        for i, (shape, stride) in enumerate(zip(p.conv_filter_shapes, p.conv_filter_strides)):
            conv = self.CreateChild(f"conv_{i}", Conv2D.Params().Set(
                filter_shape=tuple(shape), filter_stride=tuple(stride)))
            _, width, channels = conv.OutputShape(1, width)
            self.convs.append(conv)
        self.time_stride = math.prod(s[0] for s in p.conv_filter_strides)
        self.conv_dims = width * channels
        self.proj = self.CreateChild("proj", Linear.Params().Set(
            input_dims=self.conv_dims, output_dims=p.model_dims))
        enc = p.encoder.Copy()
        if issubclass(enc.cls, TransformerEncoder):
            enc.Set(input_dims=p.model_dims, model_dims=p.model_dims)
        elif issubclass(enc.cls, LstmStack):
            enc.Set(input_dims=p.model_dims)
        else:
            raise ValueError(f"{self.path}: encoder must be TransformerEncoder or LstmStack "
                             f"params, got {enc.cls.__name__}")
        self.encoder = self.CreateChild("encoder", enc)
        enc_dims = getattr(self.encoder, "output_dims", p.model_dims)
        self.softmax = self.CreateChild("softmax", Softmax.Params().Set(
            input_dims=enc_dims, num_classes=p.vocab_size))
        self.ctc = self.CreateChild("ctc", CtcLoss.Params().Set(blank_index=BLANK_ID))

    # -- model -----------------------------------------------------------------------------
    def Normalize(self, features: Any, paddings: Any) -> Any:
        """Each mel bin to zero mean and unit variance over the utterance's real frames, padded
        frames to 0: loudness and voice colour vary less, and padding changes nothing."""
        real = tf.expand_dims(1.0 - tf.cast(paddings, tf.float32), -1)
        count = tf.maximum(tf.reduce_sum(real, axis=1, keepdims=True), 1.0)
        mean = tf.reduce_sum(features * real, axis=1, keepdims=True) / count
        centered = features - mean  # squared by a product: see LayerNorm (16x8 TFLite)
        var = tf.reduce_sum(centered * centered * real, axis=1, keepdims=True) / count
        return centered * tf.math.rsqrt(var + 1e-3) * real

    def _SpecAugment(self, x: Any) -> Any:
        """Mel bins shifted by a random amount, then one random band of bins and one random
        run of frames zeroed, per utterance."""
        p = self.params
        shape = tf.shape(x)
        if p.freq_shift_bins > 0:
            shift = tf.random.uniform([shape[0], 1], -p.freq_shift_bins, p.freq_shift_bins + 1,
                                      tf.int32)
            bins = tf.clip_by_value(tf.range(shape[2])[None, :] + shift, 0, shape[2] - 1)
            x = tf.gather(x, tf.tile(bins[:, None, :], [1, shape[1], 1]), batch_dims=2)
        for axis, most in ((2, p.freq_mask_bins), (1, p.time_mask_frames)):
            if most <= 0:
                continue
            size = tf.random.uniform([shape[0], 1], 0, most + 1, tf.int32)
            start = tf.random.uniform([shape[0], 1], 0, 1 << 30, tf.int32) % tf.maximum(
                shape[axis] - size, 1)
            pos = tf.range(shape[axis])[None, :]
            keep = tf.cast((pos < start) | (pos >= start + size), x.dtype)
            x = x * (keep[:, None, :] if axis == 2 else keep[:, :, None])
        return x

    def Logits(self, features: Any, paddings: Any, training: bool = False) -> tuple[Any, Any]:
        """Log-mels [B, T, mel] and paddings [B, T] -> (logits [B, T', C], paddings [B, T']),
        T' = ceil(T / time_stride). Time is padded to a multiple of the stride first, so every
        real frame sees the same neighbours however much padding a batch has."""
        paddings = tf.cast(paddings, tf.float32)
        x = self.Normalize(tf.cast(features, tf.float32), paddings)
        if training:
            x = self._SpecAugment(x)
        x = tf.expand_dims(tf.pad(x, [[0, 0], [0, self._Extra(tf.shape(x)[1])], [0, 0]]), -1)
        paddings = self._PadToStride(paddings)
        stride = 1
        for conv, (time_stride, _) in zip(self.convs, self.params.conv_filter_strides):
            stride *= time_stride
            # Padded frames back to zero (the bias made them non-zero), so the next layer sees
            # past an utterance's end what it sees when the batch is exactly as long.
            real = 1.0 - self._Downsample(paddings, stride)
            x = conv(x)
            x = x * tf.cast(tf.reshape(real, [tf.shape(real)[0], -1, 1, 1]),  # TFLite: no newaxis
                            x.dtype)  # the compute dtype under mixed precision
        shape = tf.shape(x)
        x = self.proj(tf.reshape(x, [shape[0], shape[1], self.conv_dims]))
        out_paddings = self._Downsample(paddings, self.time_stride)
        x = self.encoder(x, paddings=out_paddings, training=training)
        return tf.cast(self.softmax(x), tf.float32), out_paddings

    def OutputPaddings(self, paddings: Any) -> Any:
        """Paddings [B, T] -> [B, T'], as `Logits` returns them."""
        return self._Downsample(self._PadToStride(paddings), self.time_stride)

    def _PadToStride(self, paddings: Any) -> Any:
        """Paddings [B, T] -> [B, T + _Extra(T)], the added frames marked as padding."""
        return tf.pad(paddings, [[0, 0], [0, self._Extra(tf.shape(paddings)[1])]],
                      constant_values=1.0)

    @staticmethod
    def _Downsample(paddings: Any, stride: int) -> Any:
        """Paddings [B, T] (T a multiple of `stride`) -> [B, T / stride]: a frame is real when
        its first input frame is (a reshape and min, not a strided slice, which TFLite's
        builtins lack)."""
        return tf.reduce_min(tf.reshape(paddings, [tf.shape(paddings)[0], -1, stride]), axis=2)

    def _Extra(self, length: Any) -> Any:
        """Frames that pad `length` to a multiple of the stride; no negative operand, since
        ONNX's Mod of one does not follow Python's sign convention."""
        stride = self.time_stride
        return (stride - length % stride) % stride

    def ComputeLoss(self, batch: dict[str, Any], training: bool) -> tuple[Any, dict[str, Any]]:
        logits, paddings = self.Logits(batch["src_features"], batch["src_paddings"], training)
        labels = tf.cast(batch["transcript_ids"], tf.int32)
        label_paddings = tf.cast(batch["transcript_paddings"], tf.float32)
        losses = self.ctc(logits, paddings, labels, label_paddings)
        utterances = tf.cast(tf.shape(labels)[0], tf.float32)
        metrics = {"loss": (tf.reduce_sum(losses), utterances)}
        if not training:
            ids, _ = self.ctc.GreedyDecode(logits, paddings)
            hyp = tf.sparse.from_dense(tf.cast(tf.maximum(ids, 0), tf.int64))
            truth = tf.sparse.from_dense(tf.cast(labels, tf.int64) * tf.cast(
                label_paddings < 0.5, tf.int64))
            edits = tf.edit_distance(hyp, truth, normalize=False)
            metrics["cer"] = (tf.reduce_sum(edits), tf.reduce_sum(1.0 - label_paddings))
        return tf.reduce_mean(losses), metrics

    # -- export ----------------------------------------------------------------------------
    def ServeFeatures(self, features: Any, paddings: Any) -> dict[str, Any]:
        """Log-mels [N, T, mel] and paddings [N, T] -> per-frame log-probs [N, T', C]."""
        logits, _ = self.Logits(features, paddings)
        return {"scores": tf.nn.log_softmax(logits)}

    def _Serve(self, inp: Any, waveform: Any, lengths: Any) -> dict[str, Any]:
        config = inp.FeatureConfig()
        features = inp.FeaturesTf(waveform)
        frames = tf.maximum(0, 1 + (lengths - config.frame_length) // config.frame_step)
        paddings = 1.0 - tf.sequence_mask(frames, tf.shape(features)[1], tf.float32)
        scores = self.ServeFeatures(features, paddings)["scores"]
        out_paddings = self.OutputPaddings(paddings)
        ids, _ = self.ctc.GreedyDecode(scores, out_paddings)
        chars = tf.constant(decoding_table(inp.Tokenizer().vocab))
        pieces = tf.where(ids >= 0, tf.gather(chars, tf.maximum(ids, 0)), "")
        return {"text": tf.strings.reduce_join(pieces, axis=-1),
                "scores": self._RealFrameScores(scores, out_paddings)}

    @staticmethod
    def _RealFrameScores(scores: Any, out_paddings: Any) -> Any:
        """Scores [N, T', C] cut to the longest utterance's frames, each shorter one's padded
        frames zero: the answer does not depend on how far a client padded its buffer, and the
        artifacts (which frame each waveform's real length) answer the same `scores`."""
        real = 1.0 - out_paddings
        longest = tf.shape(tf.where(tf.reduce_any(real > 0.5, axis=0)))[0]
        return (scores * real[..., tf.newaxis])[:, :longest]

    def ExportSignatures(self, inp: Any) -> dict[str, Any]:
        """`serving_default`: waveform float32 [N, S] (16 kHz, in [-1, 1], zero-padded) and
        lengths int32 [N] (real samples of each) -> `text` and `scores` [N, T', C] (T': the
        longest utterance's output frames; a shorter one's padded frames are zero)."""
        if inp.Tokenizer().vocab_size != self.params.vocab_size:
            raise ValueError(f"model.vocab_size {self.params.vocab_size} != the input's char "
                             f"vocab of {inp.Tokenizer().vocab_size}")
        mel = self.params.num_mel_bins
        return {
            "serving_default": tf.function(
                lambda waveform, lengths: self._Serve(inp, waveform, lengths),
                input_signature=[tf.TensorSpec([None, None], tf.float32, "waveform"),
                                 tf.TensorSpec([None], tf.int32, "lengths")]),
            "features": tf.function(self.ServeFeatures, input_signature=[
                tf.TensorSpec([None, None, mel], tf.float32, "features"),
                tf.TensorSpec([None, None], tf.float32, "paddings")]),
        }

    def ServingInputs(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        waves = list(raw["waveform"])
        lengths = np.array([len(w) for w in waves], np.int32)
        waveform = np.zeros((len(waves), max(lengths)), np.float32)
        for i, w in enumerate(waves):
            waveform[i, : len(w)] = w
        return {"waveform": waveform, "lengths": lengths}

    def AnswerMetrics(self, answers: list[dict[str, Any]],
                      raw: dict[str, np.ndarray]) -> dict[str, float]:
        """The character error rate of the transcripts against the real ones."""
        edits = sum(edit_distance(a["text"], str(t)) for a, t in zip(answers, raw["text"]))
        chars = sum(len(str(t)) for t in raw["text"])
        return {"cer": edits / max(chars, 1)}

    def PreprocessingSpec(self, inp: Any) -> dict[str, Any]:
        c = inp.FeatureConfig()
        return {
            "kind": "log_mel",
            "raw_input": {"name": "waveform", "dtype": "float32", "range": [-1.0, 1.0],
                          "sample_rate": c.sample_rate, "channels": 1},
            "log_mel": c.spec(),
            "numpy_reference": "liveri.audio.log_mel_numpy (agrees with the graph's tf.signal "
                               f"version within {TOLERANCE})",
            "frames": "1 + (samples - frame_length) // frame_step",
            "inputs": {"features": f"float32 [N, T, {c.num_mel_bins}] (zero-padded)",
                       "paddings": "float32 [N, T], 1.0 = padded frame"},
        }

    def PostprocessingSpec(self, inp: Any) -> dict[str, Any]:
        return {"kind": "ctc_greedy", "scores_output": "scores", "vocab_file": "vocab.txt",
                "blank_id": BLANK_ID, "time_stride": self.time_stride,
                "answer": "real frames = ceil(real input frames / time_stride); argmax per "
                          "frame, merge repeats, drop blanks, ids -> vocab (\u2581 = space, "
                          "<s> </s> <unk> dropped)"}

    def AssetFiles(self, inp: Any) -> dict[str, str]:
        return {"vocab.txt": inp.VocabPath().read_text(encoding="utf-8")}


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions and substitutions) between two strings."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]
