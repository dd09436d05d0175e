"""Multi-task experiments: one shared trunk trained by several heads' losses."""

from __future__ import annotations

from liveri.train.experiments.image import Digits
from liveri.train.tasks.multitask import MultiTaskImageClassifier

from liveri.params import Params
from liveri.registry import register


@register("image.DigitsMultiTask")
class DigitsMultiTask(Digits):
    """image.Digits' conv trunk with two heads: the digit (main, exported) and its parity."""

    def Task(self) -> Params:
        p = MultiTaskImageClassifier.Params()
        for key, value in super().Task().items():  # the same trunk as image.Digits
            if key != "cls":
                p.SetKey(key, value)
        p.name = "digits_multitask"
        p.Set(aux_name="parity", aux_labels=["even", "odd"],
              aux_of_class=[0, 1, 0, 1, 0, 1, 0, 1, 0, 1], task_weights=(1.0, 0.5))
        return p
