"""Machine translation: a Transformer encoder-decoder (Vaswani et al.; Lingvo's `mt` models) with
one embedding table shared by source, target and softmax, trained with label smoothing.

Decoding is in the graph: beam search (or greedy, beam 1) over the decoder's incremental cache.
The exported `serving_default` takes raw English messages and answers raw German: placeholders
protected and restored, subword tokenization and detokenization, all with stock TF ops.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from liveri.train.input import tokenizers
from liveri.train.input.placeholders_tf import protect_tf, restore_tf
from liveri.train.layers.beam_search import BeamSearch
from liveri.train.layers.transformer import TransformerDecoder, TransformerEncoder
from liveri.train.tasks import translation_quality
from liveri.train.tasks.base_task import BaseTask
from liveri.train.tasks.token_loss import perplexity, token_cross_entropy

from liveri.artifact.beam_search import StepDecoder
from liveri.lazy import tf
from liveri.params import Params
from liveri.placeholders import token_piece_ids

# Sentences per decoding call when evaluating a split (sorted by length, so little padding).
DECODE_BATCH = 64


class Translator(BaseTask):
    input_kind = "text"
    main_metric = "bleu"
    tflite_signatures = ("encode", "decode_step")
    # ONNX holds the whole beam search (tf2onnx turns the while loop into an ONNX Loop), and
    # greedy decoding behind its `greedy` input.
    onnx_signature = "features"
    onnx_greedy_signature = "features_greedy"

    @classmethod
    def Params(cls) -> Params:
        p = super().Params()
        p.Define("vocab_size", 4000, "Size of the shared subword vocab (the input's vocab_size).")
        p.Define("model_dims", 256, "Size of the residual stream of encoder and decoder.")
        p.Define("encoder", TransformerEncoder.Params(), "The source encoder.")
        p.Define("decoder", TransformerDecoder.Params(), "The target decoder, cross attending.")
        p.Define("beam", BeamSearch.Params().Set(beam_size=4, length_normalization=0.6,
                                                  max_decode_length=160),
                 "Beam search of `serving_default` and of the `bleu` metric; greedy decoding "
                 "(`bleu_greedy`, the `greedy` signature) is the same with beam_size 1.")
        p.Define("max_source_length", 128,
                 "Longest source served, in tokens (with </s>); longer inputs are refused.")
        p.Define("keep_placeholders", True,
                 "Beam search copies placeholder tokens: each exactly as often as the source "
                 "holds it (`BeamSearch` copy_ids); False leaves them to the model.")
        p.Define("decode_length_ratio", 2.0,
                 "A message decodes at most ratio * its source length + 10 positions.")
        p.label_smoothing = 0.1
        return p

    def __init__(self, params: Params, path: str | None = None) -> None:
        super().__init__(params, path)
        p = self.params
        dec = p.decoder.Copy().Set(vocab_size=p.vocab_size, model_dims=p.model_dims,
                                   tie_embedding=True)
        dec.layer.cross_attention = True
        self.decoder = self.CreateChild("decoder", dec)
        self.encoder = self.CreateChild(
            "encoder", p.encoder.Copy().Set(input_dims=0, model_dims=p.model_dims))
        self.beam = self.CreateChild("beam", p.beam)
        self.greedy = self.CreateChild("greedy", p.beam.Copy().Set(beam_size=1))

    # -- training ----------------------------------------------------------------------------
    def Encode(self, src_ids: Any, src_paddings: Any, training: bool = False) -> Any:
        """Source ids [B, S] -> encodings [B, S, model_dims], embedded by the shared table."""
        x = self.decoder.embedding(src_ids)
        return self.encoder(x, paddings=src_paddings, training=training)

    def BatchLogits(self, batch: dict[str, Any], training: bool) -> Any:
        src_paddings = tf.cast(batch["src_paddings"], tf.float32)
        source = self.Encode(batch["src_ids"], src_paddings, training)
        return self.decoder(batch["tgt_ids"], paddings=batch["tgt_paddings"], source=source,
                            source_paddings=src_paddings, training=training)

    def ComputeLoss(self, batch: dict[str, Any], training: bool) -> tuple[Any, dict[str, Any]]:
        return self.LossFromLogits(batch, self.BatchLogits(batch, training))

    def LossFromLogits(self, batch: dict[str, Any], logits: Any) -> tuple[Any, dict[str, Any]]:
        return token_cross_entropy(logits, batch["tgt_labels"], batch["tgt_paddings"],
                                   self.params.label_smoothing)

    def FinalizeMetrics(self, means: dict[str, float]) -> dict[str, float]:
        return {**means, "perplexity": perplexity(means["loss"])}

    # -- decoding ----------------------------------------------------------------------------
    def CopyIds(self, tokenizer: Any) -> list[int]:
        """The vocab ids beam search copies from the source (none without keep_placeholders)."""
        return token_piece_ids(tokenizer.vocab) if self.params.keep_placeholders else []

    def Decode(self, src_ids: Any, src_paddings: Any, greedy: bool = False,
               copy_ids: list[int] | tuple = ()) -> dict[str, Any]:
        """Source ids [B, S] -> the best hypothesis: ids [B, T] (0 after the end) and scores
        [B] (its length-normalized log probability); `copy_ids` as `BeamSearch` takes them."""
        src_paddings = tf.cast(src_paddings, tf.float32)
        source = self.Encode(src_ids, src_paddings)
        batch = tf.shape(src_ids)[0]
        lengths = tf.reduce_sum(1.0 - src_paddings, axis=1)
        limits = tf.cast(tf.math.ceil(self.params.decode_length_ratio * lengths), tf.int32) + 10
        limits = tf.minimum(limits, self.params.beam.max_decode_length)
        cache = self.decoder.InitCache(batch, tf.reduce_max(limits), source, src_paddings)
        search = self.greedy if greedy else self.beam
        found = search(self.decoder.ExtendStep, cache, batch, limits, copy_ids, src_ids)
        return {"ids": found["ids"][:, 0, :], "scores": found["scores"][:, 0]}

    # -- the decode loop outside the graph (TFLite, ONNX): one encoder call, then steps ---------
    def EncodeStep(self, src_ids: Any, src_paddings: Any) -> dict[str, Any]:
        """The `encode` signature: `cross_cache` [N, layers, 2, S, heads, head_dims], each
        decoder layer's projected source keys and values, computed once per message."""
        source = self.Encode(src_ids, tf.cast(src_paddings, tf.float32))
        per_layer = [tf.stack(layer.cross_atten.ProjectSource(layer.CastToCompute(source)), 1)
                     for layer in self.decoder.layers]
        return {"cross_cache": tf.cast(tf.stack(per_layer, 1), tf.float32)}

    def DecodeStep(self, ids: Any, step: Any, src_paddings: Any, self_cache: Any,
                   cross_cache: Any) -> dict[str, Any]:
        """The `decode_step` signature: ids [N] at position `step` -> log_probs [N, vocab] and
        `self_cache` [N, layers, 2, L, heads, head_dims] (L: the longest decode) with this
        position's keys and values written in. Every input but `step` has the batch first, so
        a runner's beam search (`liveri.artifact.beam_search`) tiles and reorders them as the
        graph's does the ExtendStep cache."""
        cache: dict[str, Any] = {"source_paddings": tf.cast(src_paddings, tf.float32)}
        selfs, crosses = tf.unstack(self_cache, axis=1), tf.unstack(cross_cache, axis=1)
        for i, (own, cross) in enumerate(zip(selfs, crosses)):
            key, value = tf.unstack(own, axis=1)
            cross_key, cross_value = tf.unstack(cross, axis=1)
            cache[f"layer_{i}"] = {"self": {"key": key, "value": value},
                                   "cross_key": cross_key, "cross_value": cross_value}
        logits, new = self.decoder.ExtendStep(ids, cache, step)
        written = [tf.stack([new[f"layer_{i}"]["self"]["key"], new[f"layer_{i}"]["self"]["value"]],
                            1) for i in range(len(selfs))]
        return {"log_probs": tf.nn.log_softmax(logits), "self_cache": tf.stack(written, 1)}

    def StepSignatures(self) -> dict[str, Any]:
        """`encode` and `decode_step` with their input signatures."""
        cache = [None, len(self.decoder.layers), 2, None, self.params.decoder.layer.num_heads,
                 self.params.model_dims // self.params.decoder.layer.num_heads]
        ids, paddings = (tf.TensorSpec([None, None], tf.int32, "src_ids"),
                         tf.TensorSpec([None, None], tf.float32, "src_paddings"))
        step = [tf.TensorSpec([None], tf.int32, "ids"), tf.TensorSpec([], tf.int32, "step"),
                paddings, tf.TensorSpec(cache, tf.float32, "self_cache"),
                tf.TensorSpec(cache, tf.float32, "cross_cache")]
        return {"encode": tf.function(self.EncodeStep, input_signature=[ids, paddings]),
                "decode_step": tf.function(self.DecodeStep, input_signature=step)}

    def StepCalibration(self, inp: Any, signatures: dict[str, Any],
                        features: dict[str, np.ndarray], batch: int = 10, every: int = 3) -> Any:
        """Full-int8 calibration of `encode` and `decode_step`: (signature, inputs) samples from
        real decodes of `features` (the float SavedModel's signatures looped by the runner's
        beam search), every `every`-th step of each batch of `batch` messages."""
        def numpy_fn(fn: Any) -> Any:
            return lambda **kw: {k: v.numpy() for k, v in fn(**{
                name: tf.constant(value) for name, value in kw.items()}).items()}

        def samples() -> Any:
            decoding = self.PostprocessingSpec(inp)["decoding"]
            step = numpy_fn(signatures["decode_step"])
            steps: list[dict[str, np.ndarray]] = []

            def recorded(**kw: np.ndarray) -> dict[str, np.ndarray]:
                steps.append(kw)
                return step(**kw)

            decoder = StepDecoder(numpy_fn(signatures["encode"]), recorded, decoding)
            for start in range(0, len(features["src_ids"]), batch):
                part = {k: v[start:start + batch] for k, v in features.items()}
                steps.clear()
                decoder(**part)
                yield "encode", part
                for kw in steps[::every]:
                    yield "decode_step", kw

        return samples

    def Translate(self, tokenizer: Any, text: Any, greedy: bool = False) -> dict[str, Any]:
        """Raw messages [N] -> {"translation": [N] string, "scores": [N] float32}; raises
        InvalidArgumentError naming the input for an empty, over-long or non-UTF-8 message."""
        utf8 = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")
        # Assert, not assert_equal: the message must not quote the bytes (errors are UTF-8).
        with tf.control_dependencies([tf.debugging.Assert(
                tf.reduce_all(tf.equal(utf8, text)),
                ["text: every message must be UTF-8; got other bytes"])]):
            protected, numbered = protect_tf(tf.identity(text))
        tokens = tokenizer.encode_tf(protected)
        lengths = tokens.row_lengths() + 1
        limit = self.params.max_source_length
        checks = [
            tf.debugging.assert_positive(
                tokens.row_lengths(), message="text: every message must have a character "
                "other than whitespace; got an empty one"),
            tf.debugging.assert_less_equal(
                lengths, tf.cast(limit, lengths.dtype), message=f"text: a message is at most "
                f"{limit - 1} subword tokens long (model.max_source_length - 1); got a "
                "longer one"),
        ]
        with tf.control_dependencies(checks):
            eos = tf.fill([tokens.nrows(), 1], tf.constant(tokenizers.EOS_ID, tokens.dtype))
            src = tf.concat([tokens, eos], axis=1)
        src_ids = src.to_tensor(0)
        src_paddings = 1.0 - tf.sequence_mask(lengths, tf.shape(src_ids)[1], tf.float32)
        found = self.Decode(src_ids, src_paddings, greedy, self.CopyIds(tokenizer))
        words = tf.gather(tf.constant(tokenizer.vocab), found["ids"])
        words = tf.where(found["ids"] <= tokenizers.EOS_ID, "", words)  # <unk> shows, as in numpy
        joined = tf.strings.regex_replace(tf.strings.reduce_join(words, axis=1),
                                          tokenizers.SPACE, " ")
        joined = tf.strings.regex_replace(joined, "^ ", "")
        return {"translation": restore_tf(joined, numbered), "scores": found["scores"]}

    def TranslateAll(self, inp: Any, texts: list[str], greedy: bool = False) -> list[str]:
        """Translations of raw `texts` by the graph `serving_default` runs, in batches of
        similar length."""
        tokenizer = inp.Tokenizer()
        translate = tf.function(lambda t: self.Translate(tokenizer, t, greedy)["translation"],
                                reduce_retracing=True)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[str] = [""] * len(texts)
        for start in range(0, len(order), DECODE_BATCH):
            chunk = order[start:start + DECODE_BATCH]
            found = translate(tf.constant([texts[i] for i in chunk], tf.string)).numpy()
            for i, t in zip(chunk, found):
                out[i] = t.decode("utf-8")
        return out

    def ExtraMetrics(self, inp: Any, split: str, metrics: dict[str, float]) -> dict[str, float]:
        """BLEU and chrF (sacrebleu's defaults) of beam and greedy translations of the split,
        the share of placeholders kept, and the two baselines on the same split."""
        examples = inp.Examples(split)
        sources, references = list(examples["text"]), list(examples["target"])
        out: dict[str, float] = {}
        for suffix, greedy in (("", False), ("_greedy", True)):
            hypotheses = self.TranslateAll(inp, sources, greedy)
            scores = translation_quality.scores(hypotheses, references)
            out.update({f"{name}{suffix}": v for name, v in scores.items()})
            out[f"placeholders_kept{suffix}"] = translation_quality.placeholders_kept(
                sources, hypotheses)
        out.update(translation_quality.baselines(inp, split))
        return out

    # -- export ------------------------------------------------------------------------------
    def ExportSignatures(self, inp: Any) -> dict[str, Any]:
        tokenizer = inp.Tokenizer()
        text = [tf.TensorSpec([None], tf.string, "text")]
        features = [tf.TensorSpec([None, None], tf.int32, "src_ids"),
                    tf.TensorSpec([None, None], tf.float32, "src_paddings")]
        return {
            **self.StepSignatures(),
            # Beam search from source ids, as devices feed it, and its beam-1 twin.
            "features": tf.function(lambda src_ids, src_paddings: self.Decode(
                src_ids, src_paddings, copy_ids=self.CopyIds(tokenizer)),
                input_signature=features),
            "features_greedy": tf.function(lambda src_ids, src_paddings: self.Decode(
                src_ids, src_paddings, greedy=True, copy_ids=self.CopyIds(tokenizer)),
                input_signature=features),
            "serving_default": tf.function(lambda text: self.Translate(tokenizer, text),
                                           input_signature=text),
            "greedy": tf.function(lambda text: self.Translate(tokenizer, text, greedy=True),
                                  input_signature=text),
        }

    def ServingInputs(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"text": np.array([str(t).encode() for t in raw["text"]], dtype=object)}

    def AnswerMetrics(self, answers: list[dict[str, Any]],
                      raw: dict[str, np.ndarray]) -> dict[str, float]:
        hypotheses = [a["translation"] for a in answers]
        return translation_quality.scores(hypotheses, [str(t) for t in raw["target"]])

    def PreprocessingSpec(self, inp: Any) -> dict[str, Any]:
        return {"kind": "text", "tokenizer": inp.params.tokenizer, "vocab_file": "vocab.txt",
                "placeholders": "protected", "max_source_length": self.params.max_source_length,
                "corpus": {k: v for k, v in inp.Fingerprint().items() if k != "files"},
                "inputs": {"src_ids": "int32 [N, S]: protected message's tokens + </s>",
                           "src_paddings": "float32 [N, S], 1.0 = pad"}}

    def PostprocessingSpec(self, inp: Any) -> dict[str, Any]:
        beam = self.params.beam
        return {"kind": "translation", "scores_output": "scores",
                "answer": "ids until </s> detokenized, placeholder tokens restored",
                "decoding": {"beam_size": beam.beam_size, "sos_id": beam.sos_id,
                             "eos_id": beam.eos_id,
                             "length_normalization": beam.length_normalization,
                             "max_decode_length": beam.max_decode_length,
                             "copy_ids": self.CopyIds(inp.Tokenizer()),
                             "decode_length_ratio": self.params.decode_length_ratio}}

    def AssetFiles(self, inp: Any) -> dict[str, str]:
        return {"vocab.txt": inp.VocabPath().read_text(encoding="utf-8")}
