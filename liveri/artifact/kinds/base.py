"""What every kind offers: encode raw examples to features, decode outputs to answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from liveri.errors import UsageError


class InputError(UsageError, ValueError):
    """A raw example the kind cannot encode; the message says what was expected."""


class KindError(ValueError):
    """Specs or side files this kind cannot work from (a bundle or version it cannot run)."""


@dataclass
class Encoded:
    """A batch of raw examples as the model's features, with what decoding needs."""

    features: dict[str, np.ndarray]
    size: int  # examples in the batch
    context: dict[str, Any] = field(default_factory=dict)


class Kind:
    """One kind of raw input and answer. Subclasses set the class attributes and implement
    `encode`, `decode` and `examples_from_serving`."""

    name: ClassVar[str]
    # The `postprocessing.kind` values of the specs this kind reads.
    postprocessing_kinds: ClassVar[tuple[str, ...]]
    # The raw input on the device runner's command line, in words.
    input_flag: ClassVar[str] = ""

    def __init__(self, preprocessing: dict[str, Any], postprocessing: dict[str, Any],
                 files: Mapping[str, bytes]) -> None:
        self.pre, self.post = preprocessing, postprocessing
        self.scores_output = postprocessing.get("scores_output", "scores")

    @property
    def feature_names(self) -> tuple[str, ...] | None:
        """The model inputs `encode` feeds; None: the model's one input, whatever its name."""
        return None

    def encode(self, examples: Sequence[Any]) -> Encoded:
        raise NotImplementedError

    def decode(self, encoded: Encoded, outputs: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def examples_from_serving(self, inputs: Mapping[str, np.ndarray]) -> list[Any]:
        """The raw examples a batch of `serving_default` inputs carries."""
        raise NotImplementedError

    def serving_inputs(self, examples: Sequence[Any]) -> dict[str, np.ndarray]:
        """Raw examples as a batch of `serving_default` inputs (for artifacts that take them)."""
        raise NotImplementedError

    def needs_model(self, encoded: Encoded) -> bool:
        """False where the kind answers this batch without the model."""
        return True

    def serving_outputs(self, answers: list[dict[str, Any]], names: Sequence[str],
                        outputs: Mapping[str, np.ndarray] | None = None
                        ) -> dict[str, np.ndarray]:
        """Answers (and the model's raw `outputs` for the batch, None when it did not run) as
        the SavedModel's `serving_default` outputs `names`; KindError where this kind cannot
        give them (that artifact then cannot stand in for it)."""
        raise KindError(f"{self.name} answers cannot be written as serving_default outputs "
                        f"{list(names)}")

    def scores_as_served(self, answers: list[dict[str, Any]],
                         outputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """The batch's scores as `serving_default` answers them, which parity compares: the
        model's scores output as it is, unless a kind answers only part of it."""
        return np.asarray(outputs[self.scores_output], np.float32)

    def text_and_scores(self, answers: list[dict[str, Any]], names: Sequence[str],
                        outputs: Mapping[str, np.ndarray] | None, no_model_scores: Any
                        ) -> dict[str, np.ndarray]:
        """`serving_default` outputs of kinds whose graph answers `text` (the answers') and
        `scores` (`outputs`' scores tensor, padded as the graph pads the batch).
        `no_model_scores(n)`: the scores of a batch the kind answered without the model."""
        if set(names) - {"text", "scores"}:
            return Kind.serving_outputs(self, answers, names)
        texts = np.empty(len(answers), dtype=object)
        texts[:] = [a["text"].encode() for a in answers]
        found = {"text": texts}
        if "scores" in names:
            found["scores"] = (np.asarray(outputs[self.scores_output], np.float32) if outputs
                               else no_model_scores(len(answers)))
        return {name: found[name] for name in names}

    def batch_of_one(self, x: Any) -> list[Any]:
        """One raw example as a batch (kinds whose example can also be a batch override it)."""
        return [x]

    def agreement_key(self, answer: dict[str, Any]) -> Any:
        """What two artifacts must answer alike to agree on an example."""
        raise NotImplementedError

    def expects(self) -> str:
        """The raw input in words, for error messages."""
        raise NotImplementedError


def side_file_text(files: Mapping[str, bytes], key: str, kind: str) -> str:
    """The UTF-8 text of the side file under manifest key `key` (`vocab_file`, ...)."""
    if key not in files:
        raise KindError(f"a {kind} model needs its {key}, but none was given")
    try:
        return files[key].decode("utf-8")
    except UnicodeDecodeError as e:
        raise KindError(f"{key}: not UTF-8 text ({e})") from None


def as_array(x: Any, field: str) -> np.ndarray:
    """`x` as one numpy array; ragged nesting is bad input (naming `field`), not a crash."""
    try:
        return np.asarray(x)
    except ValueError as e:
        raise InputError(f"{field}: not a rectangular array ({e})") from None
