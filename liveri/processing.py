"""Pre- and post-processing from a manifest's spec, in numpy only.

The SavedModel does this inside its graph; devices (and TFLite parity checks) do it here, from
the same spec, so the same raw input gives the same answer everywhere.

Images: `preprocess` scales pixels, `postprocess` picks the class. Text: `preprocess_text` cuts
and looks up tokens with the vocab (`liveri.tokenization`) and lays them out as the model reads
them; `postprocess_text` turns the model's scores back into the answer. What a text model reads
and answers is named by the postprocessing kind: "punctuate" (the punctuator's source tokens ->
a mark after each word) or "language_model" (<s> + tokens, scored against tokens + </s>).

Audio: `preprocess_audio` turns waveforms into the log-mels and paddings a speech model's
`features` signature takes (`liveri.audio`); `postprocess_ctc` decodes its per-frame log-probs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from liveri import audio, tokenization
from liveri.tokenization import BOS_ID, EOS_ID, MARKS, SPACE, Tokenizer


def preprocess(spec: dict[str, Any], raw: Any) -> np.ndarray:
    """Raw input (one example or a batch) -> the float features the TFLite model takes."""
    if spec["kind"] != "image":
        raise ValueError(f"preprocessing kind {spec['kind']!r} is not supported")
    shape = tuple(spec["raw_input"]["shape"])
    x = np.asarray(raw)
    if x.dtype.kind not in "uif":
        raise ValueError(f"pixels: expected a numeric array of shape {list(shape)} (or a batch "
                         f"[N, {', '.join(map(str, shape))}]), got dtype {x.dtype}")
    if x.shape == shape:
        x = x[None]
    if x.shape[1:] != shape:
        raise ValueError(f"pixels: expected shape {list(shape)} or [N, "
                         f"{', '.join(map(str, shape))}], got {list(x.shape)}")
    x = x.astype(np.float32) * np.float32(spec["scale"])
    return x[..., None] if spec.get("add_channel_axis") else x


def postprocess(spec: dict[str, Any], scores: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Scores [N, C] -> class ids, labels and scores (what `serving_default` answers)."""
    if spec["kind"] != "classify":
        raise ValueError(f"postprocessing kind {spec['kind']!r} is not supported")
    classes = np.argmax(scores, axis=-1).astype(np.int64)
    return {"classes": classes, "labels": [labels[int(c)] for c in classes], "scores": scores}


# -- text ------------------------------------------------------------------------------------


@dataclass
class TextBatch:
    """Texts as the model's features, with what decoding each example's answer needs."""

    features: dict[str, np.ndarray]  # model input name -> [N, T], padded to the longest
    pieces: list[list[str]]  # per example, the pieces the tokens spell
    piece_of_token: list[np.ndarray]  # per example, int32 [T_i]: the piece each token spells
    lengths: list[int]  # per example, its real (unpadded) length in the features


def text_tokenizer(spec: dict[str, Any], vocab_text: str) -> Tokenizer:
    """The tokenizer a "text" preprocessing spec names, over the shipped vocab file's text."""
    if spec["kind"] != "text":
        raise ValueError(f"preprocessing kind {spec['kind']!r} is not text")
    kinds = tokenization.TOKENIZERS
    if spec.get("tokenizer") not in kinds:
        raise ValueError(f"tokenizer {spec.get('tokenizer')!r} is not supported "
                         f"(expected one of {sorted(kinds)})")
    return kinds[spec["tokenizer"]].from_text(vocab_text)


def text_input_names(post: dict[str, Any]) -> tuple[str, ...]:
    """The model inputs the text layout for `post`'s kind feeds."""
    return _text_task(post).input_names


def preprocess_text(post: dict[str, Any], tokenizer: Tokenizer,
                    texts: Sequence[str]) -> TextBatch:
    """Raw strings -> the padded int32 ids (and labels) and float32 paddings the model takes."""
    for text in texts:
        if not isinstance(text, str):
            raise ValueError(f"text: expected a str, got {type(text).__name__}")
    return _text_task(post).encode(tokenizer, list(texts))


def postprocess_text(post: dict[str, Any], tokenizer: Tokenizer, batch: TextBatch,
                     outputs: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """The model's outputs -> one JSON-ready answer per text, as `serving_default` decodes it."""
    return _text_task(post).decode(post, tokenizer, batch, outputs)


def _pad(rows: list[np.ndarray], dtype: type) -> np.ndarray:
    """Rows [T_i] -> [N, max(1, T)], zero after each row (a model never sees a length of 0)."""
    out = np.zeros((len(rows), max([1] + [len(r) for r in rows])), dtype)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def _paddings(lengths: list[int], width: int) -> np.ndarray:
    return (np.arange(width)[None, :] >= np.array(lengths)[:, None]).astype(np.float32)


def _punctuator_encode(tokenizer: Tokenizer, texts: list[str]) -> TextBatch:
    pieces = [tokenization.word_pieces(tokenization.punctuator_source(t)) for t in texts]
    encoded = [tokenizer.encode_pieces_numpy(p) for p in pieces]
    ids = _pad([i for i, _ in encoded], np.int32)
    lengths = [len(i) for i, _ in encoded]
    return TextBatch(features={"ids": ids, "paddings": _paddings(lengths, ids.shape[1])},
                     pieces=pieces, piece_of_token=[w for _, w in encoded], lengths=lengths)


def _punctuator_decode(post: dict[str, Any], tokenizer: Tokenizer, batch: TextBatch,
                       outputs: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Each word followed by the mark its last token scores highest (how the model was taught)."""
    marks = tuple(post.get("marks", MARKS))
    scores = outputs.get(post.get("scores_output", "scores"))
    answers: list[dict[str, Any]] = []
    for i, pieces in enumerate(batch.pieces):
        if not batch.lengths[i]:
            answers.append({"text": "", "marks": [], "scores": []})
            continue
        piece_of_token = batch.piece_of_token[i]
        last_token = piece_of_token != np.append(piece_of_token[1:], -1)
        word_scores = scores[i, : batch.lengths[i]][last_token]
        word_marks = [marks[int(m)] for m in np.argmax(word_scores, axis=-1)]
        words = [p.replace(SPACE, "") for p in pieces]
        answers.append({"text": " ".join(w + m for w, m in zip(words, word_marks, strict=True)),
                        "marks": word_marks,
                        "scores": [[float(v) for v in row] for row in word_scores]})
    return answers


def _lm_encode(tokenizer: Tokenizer, texts: list[str]) -> TextBatch:
    pieces = [tokenizer.pieces(t) for t in texts]
    encoded = [tokenizer.encode_pieces_numpy(p) for p in pieces]
    for text, (tokens, _) in zip(texts, encoded, strict=True):
        if not len(tokens):
            raise ValueError(f"text: {text!r} has no tokens; a language model scores at least "
                             f"one character")
    ids = _pad([np.concatenate([[BOS_ID], t]) for t, _ in encoded], np.int32)
    labels = _pad([np.concatenate([t, [EOS_ID]]) for t, _ in encoded], np.int32)
    lengths = [len(t) + 1 for t, _ in encoded]
    return TextBatch(features={"ids": ids, "labels": labels,
                               "paddings": _paddings(lengths, ids.shape[1])},
                     pieces=pieces, piece_of_token=[w for _, w in encoded], lengths=lengths)


def _lm_decode(post: dict[str, Any], tokenizer: Tokenizer, batch: TextBatch,
               outputs: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Log-probability and perplexity of each text (its tokens and </s>), and the next token the
    model predicts where `serving_default` reads it: after the text's last token."""
    scores = outputs[post.get("scores_output", "scores")]
    predictions = outputs["predictions"]
    answers = []
    for i, length in enumerate(batch.lengths):
        token_scores = scores[i, :length].astype(np.float64)
        log_prob = float(np.sum(token_scores))
        next_id = int(predictions[i, length - 1])
        answers.append({"perplexity": float(np.exp(-log_prob / length)), "log_prob": log_prob,
                        "next_token": tokenizer.vocab[next_id].replace(SPACE, " "),
                        "scores": [float(s) for s in token_scores]})
    return answers


@dataclass(frozen=True)
class _TextTask:
    input_names: tuple[str, ...]
    encode: Callable[[Tokenizer, list[str]], TextBatch]
    decode: Callable[[dict[str, Any], Tokenizer, TextBatch, dict[str, np.ndarray]],
                     list[dict[str, Any]]]


_TEXT_TASKS = {
    "punctuate": _TextTask(("ids", "paddings"), _punctuator_encode, _punctuator_decode),
    "language_model": _TextTask(("ids", "labels", "paddings"), _lm_encode, _lm_decode),
}


def _text_task(post: dict[str, Any]) -> _TextTask:
    if post["kind"] not in _TEXT_TASKS:
        raise ValueError(f"postprocessing kind {post['kind']!r} is not a text kind "
                         f"(expected one of {sorted(_TEXT_TASKS)})")
    return _TEXT_TASKS[post["kind"]]


# -- audio -----------------------------------------------------------------------------------

AUDIO_INPUTS = ("features", "paddings")


def preprocess_audio(spec: dict[str, Any], waveforms: Sequence[Any]) -> dict[str, np.ndarray]:
    """Waveforms (float samples in [-1, 1] at the spec's rate) -> the features signature's
    inputs: log-mels [N, T, mel] and paddings [N, T] (1.0 = padded frame)."""
    config = audio.LogMelConfig.from_spec(spec)
    checked = [_checked_waveform(w, config) for w in waveforms]
    features, paddings = audio.log_mel_batch(checked, config)
    return dict(zip(AUDIO_INPUTS, (features, paddings), strict=True))


def _checked_waveform(raw: Any, config: audio.LogMelConfig) -> np.ndarray:
    x = np.asarray(raw)
    rate = config.sample_rate
    if x.dtype.kind != "f":
        raise ValueError(f"waveform: expected float samples in [-1, 1] (16-bit PCM / 32768), "
                         f"got dtype {x.dtype}")
    if x.ndim != 1:
        raise ValueError(f"waveform: expected one mono channel, shape [samples], got shape "
                         f"{list(x.shape)}")
    if len(x) < config.frame_length:
        raise ValueError(f"waveform: {len(x)} samples is shorter than one frame "
                         f"({config.frame_length} samples at {rate} Hz)")
    if not np.all(np.isfinite(x)) or np.max(np.abs(x)) > 1.0:
        raise ValueError(f"waveform: expected finite samples in [-1, 1], got values up to "
                         f"{np.max(np.abs(x))}")
    return x


def postprocess_ctc(post: dict[str, Any], vocab: Sequence[str], scores: np.ndarray,
                    paddings: np.ndarray) -> list[dict[str, Any]]:
    """Per-frame log-probs [N, T', C] -> per example the greedy CTC transcript and the scores of
    its real frames (ceil(real input frames / time_stride)), as `serving_default` decodes it."""
    if post["kind"] != "ctc_greedy":
        raise ValueError(f"postprocessing kind {post['kind']!r} is not ctc_greedy")
    if scores.shape[-1] != len(vocab):
        raise ValueError(f"the model scores {scores.shape[-1]} classes but the vocab has "
                         f"{len(vocab)} tokens")
    table = audio.decoding_table(vocab)
    stride = int(post["time_stride"])
    answers = []
    for row, real in zip(scores, np.sum(paddings < 0.5, axis=1), strict=True):
        frames = row[: -(-int(real) // stride)]
        answers.append({"text": audio.greedy_ctc_text(frames, table, int(post["blank_id"])),
                        "scores": frames.tolist()})
    return answers
