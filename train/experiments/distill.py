"""Distillation experiments: a small student taught by a trained reference experiment."""

from __future__ import annotations

from liveri.train.experiments.image import Digits
from liveri.train.registry import register

from liveri.params import Params


@register("image.DigitsDistilled")
class DigitsDistilled(Digits):
    """image.Digits' conv net at about a tenth of the size, trained on the labels and on the
    softened predictions of a trained image.Digits (Hinton et al., 2015).

    Train the teacher first: `liveri train -e image.Digits --logdir /tmp/digits_teacher`
    (or point `train.distill.teacher_logdir` at any trained image.Digits logdir).
    """

    def Task(self) -> Params:
        p = super().Task()
        p.name = "digits_student"
        p.conv.Set(channels=(8, 16))
        p.hidden_dims = 32
        p.dropout.keep_prob = 0.9
        return p

    def Train(self) -> Params:
        p = super().Train()
        p.distill.Set(teacher_experiment="image.Digits", teacher_logdir="/tmp/digits_teacher",
                      temperature=4.0, mixing_weight=0.7)
        return p

    def Release(self) -> Params:
        return super().Release().Set(max_bundle_bytes=100_000)
