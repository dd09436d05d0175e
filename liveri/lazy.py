"""Import heavy modules (TensorFlow) on first use, so `liveri list` and `params` stay instant."""

from __future__ import annotations

import importlib
import types
from typing import Any


class LazyModule(types.ModuleType):
    """A stand-in for a module that imports it when an attribute is first read."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._module: types.ModuleType | None = None

    def _load(self) -> types.ModuleType:
        if self._module is None:
            self._module = importlib.import_module(self.__name__)
        return self._module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)


tf: Any = LazyModule("tensorflow")
