"""The base of checked-in experiments: one readable recipe per registered name.

An experiment's methods return the params of each part (`Task` for the model, `Input` for the
data, `Train` for the trainer, `Release` for the budgets); `Params()` joins them into the one tree
that `liveri params -e NAME` prints and `--set` overrides.
"""

from __future__ import annotations

from liveri.train.export_params import ExportParams
from liveri.train.trainer_params import TrainerParams

from liveri.budgets import ReleaseParams
from liveri.params import Params


def inherit_values(onto: Params, base: Params) -> Params:
    """`onto` with every value `base` sets (but its class): how an experiment keeps another's
    recipe while building a subclass of its task, e.g. the same model with one more head."""
    for key, value in base.items():
        if key != "cls":
            onto.SetKey(key, value)
    return onto


class Experiment:
    name: str = ""

    def Task(self) -> Params:
        raise NotImplementedError

    def Input(self) -> Params:
        raise NotImplementedError

    def Train(self) -> Params:
        return TrainerParams()

    def Export(self) -> Params:
        return ExportParams()

    def Release(self) -> Params:
        return ReleaseParams()

    def Params(self) -> Params:
        root = Params()
        root.Define("experiment", self.name, "Registered name of the experiment.")
        root.Define("model", self.Task(), "The model (a task: layers, loss, decoding).")
        root.Define("input", self.Input(), "The data: source, splits and tf.data pipeline.")
        root.Define("train", self.Train(), "The trainer: steps, batch, optimizer, checkpoints.")
        root.Define("export", self.Export(), "What `liveri export` writes and checks.")
        root.Define("release", self.Release(), "Budgets the release gate checks.")
        return root
