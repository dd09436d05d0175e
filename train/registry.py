"""Experiments registered by name: `@register("image.Digits")` on a checked-in class, and their
params with `--set KEY=VALUE` overrides applied."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import TypeVar

from liveri.errors import UsageError
from liveri.params import Params

_EXPERIMENTS: dict[str, type] = {}
_EXPERIMENT_PACKAGES = ("liveri.train.experiments",)

T = TypeVar("T", bound=type)


class UnknownExperimentError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make the experiment findable as `name` (`liveri list`, `-e NAME`)."""

    def wrap(cls: T) -> T:
        if name in _EXPERIMENTS and _EXPERIMENTS[name] is not cls:
            raise ValueError(f"experiment {name!r} is registered twice")
        _EXPERIMENTS[name] = cls
        cls.name = name
        return cls

    return wrap


def _load_all() -> None:
    for package in _EXPERIMENT_PACKAGES:
        importlib.import_module(package)


def names() -> list[str]:
    _load_all()
    return sorted(_EXPERIMENTS)


def get(name: str) -> type:
    """The experiment class registered as `name`; unknown names suggest the nearest ones."""
    _load_all()
    if name not in _EXPERIMENTS:
        close = difflib.get_close_matches(name, _EXPERIMENTS, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise UnknownExperimentError(
            f"unknown experiment {name!r}{hint} (`liveri list` shows all {len(_EXPERIMENTS)})"
        )
    return _EXPERIMENTS[name]


def experiment_params(name: str, overrides: list[str] | None = None) -> Params:
    """The registered experiment's params with `KEY=VALUE` overrides applied."""
    params = get(name)().Params()
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set: expected KEY=VALUE, got {item!r}")
        params.Override(key.strip(), value)
    return params
