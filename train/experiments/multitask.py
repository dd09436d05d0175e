"""Multi-task experiments: one shared trunk trained by several heads' losses."""

from __future__ import annotations

from liveri.train.experiment import inherit_values
from liveri.train.experiments.image import Digits
from liveri.train.experiments.text import Punctuator
from liveri.train.registry import register
from liveri.train.tasks.multitask import MultiTaskImageClassifier
from liveri.train.tasks.punctuator_lm import PunctuatorLm

from liveri.params import Params


@register("image.DigitsMultiTask")
class DigitsMultiTask(Digits):
    """image.Digits' conv trunk with two heads: the digit (main, exported) and its parity."""

    def Task(self) -> Params:
        p = inherit_values(MultiTaskImageClassifier.Params(), super().Task())
        p.name = "digits_multitask"
        return p.Set(aux_name="parity", aux_labels=["even", "odd"],
                     aux_of_class=[0, 1, 0, 1, 0, 1, 0, 1, 0, 1], task_weights=(1.0, 0.5))


@register("text.PunctuatorLmMultiTask")
class PunctuatorLmMultiTask(Punctuator):
    """text.Punctuator's encoder shared with a word-level language model of the punctuated
    prose (the same weights run causally): punctuation is the main, exported head."""

    def Task(self) -> Params:
        p = inherit_values(PunctuatorLm.Params(), super().Task())
        p.name = "punctuator_lm"
        return p.Set(task_weights=(1.0, 0.5))

    def Train(self) -> Params:
        # Its figures (F1 0.585, LM 4.50 per character, 9.0 min) are from float32 at 3,000
        # steps; the punctuator's bfloat16 4,000-step recipe is untried here.
        return super().Train().Set(max_steps=3000, mixed_precision=False)
