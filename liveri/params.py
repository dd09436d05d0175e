"""Nested, typed, freezable hyperparameters: the one way every knob in Liveri is declared.

In the spirit of Lingvo's `hyperparams`: a field is `Define`d once with a default and a one-line
doc; its type is the default's type or a declared one. Params print as sorted `dotted.key : value`
lines that parse back exactly, and take `--set KEY=VALUE` overrides parsed to the field's type.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import hashlib
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


class ParamsError(ValueError):
    """A params key or value was wrong; the message says what was expected."""


@dataclass
class _Field:
    value: Any
    doc: str
    type: type | None  # None: any literal value


def _type_name(t: type | None) -> str:
    return "any" if t is None else t.__name__


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _import_class(path: str) -> type:
    module_name, _, qualname = path.rpartition(".")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise ParamsError(f"cannot import class {path!r}: {e}") from e
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if not isinstance(obj, type):
        raise ParamsError(f"{path!r} does not name a class")
    return obj


def _format_value(value: Any) -> str:
    if isinstance(value, type):
        return f"@{_class_path(value)}"
    return repr(value)


def _check_type(key: str, value: Any, expected: type | None) -> Any:
    """Return `value` as the field's type, or raise naming key, value and expected type."""
    if value is None or expected is None:
        return value
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is type and isinstance(value, type):
        return value
    if expected in (list, tuple) and isinstance(value, (list, tuple)):
        return expected(value)
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
        return value
    raise ParamsError(
        f"{key}: expected {_type_name(expected)}, got {value!r} ({type(value).__name__})"
    )


def parse_value(key: str, text: str, expected: type | None) -> Any:
    """Parse command-line text to the field's type (`3`, `1e-3`, `true`, `[1, 2]`, `None`)."""
    stripped = text.strip()
    if stripped == "None":
        return None
    if expected is bool:
        lowered = stripped.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ParamsError(f"{key}: expected bool (true/false), got {text!r}")
    if expected is int:
        try:
            return int(stripped)
        except ValueError:
            raise ParamsError(f"{key}: expected int, got {text!r}") from None
    if expected is float:
        try:
            return float(stripped)
        except ValueError:
            raise ParamsError(f"{key}: expected float, got {text!r}") from None
    if expected is type:
        return _import_class(stripped.lstrip("@"))
    if expected is str:
        if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "'\"":
            return ast.literal_eval(stripped)
        return text
    try:
        value = ast.literal_eval(stripped)
    except (ValueError, SyntaxError):
        if expected is None:
            return text
        raise ParamsError(
            f"{key}: expected {_type_name(expected)} as a Python literal, got {text!r}"
        ) from None
    return _check_type(key, value, expected)


class Params:
    """A node of named fields; a field holds a value or a child `Params`."""

    def __init__(self) -> None:
        object.__setattr__(self, "_fields", {})
        object.__setattr__(self, "_frozen", False)

    # -- declaring -------------------------------------------------------------------------
    def Define(self, name: str, default: Any, doc: str, type: type | None = None) -> None:
        """Declare field `name` with its default, a one-line doc and (optionally) its type."""
        if self._frozen:
            raise ParamsError(f"cannot Define {name!r}: params are frozen")
        if not name.isidentifier() or name.startswith("_"):
            raise ParamsError(f"field name {name!r} must be an identifier without leading _")
        if name in self._fields:
            raise ParamsError(f"field {name!r} is already defined")
        declared = type
        if declared is None and default is not None and not isinstance(default, Params):
            declared = builtins.type if isinstance(default, builtins.type) else default.__class__
        value = default if isinstance(default, Params) else _check_type(name, default, declared)
        self._fields[name] = _Field(value, doc, None if isinstance(default, Params) else declared)

    # -- access ----------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        fields = object.__getattribute__(self, "_fields")
        if name in fields:
            return fields[name].value
        raise AttributeError(self._unknown_key_message(name))

    def __setattr__(self, name: str, value: Any) -> None:
        self._set_local(name, value, name)

    def _set_local(self, name: str, value: Any, full_key: str) -> None:
        if self._frozen:
            raise ParamsError(f"cannot set {full_key!r}: params are frozen (Copy() them first)")
        if name not in self._fields:
            raise ParamsError(self._unknown_key_message(full_key))
        field = self._fields[name]
        if isinstance(field.value, Params) and not isinstance(value, Params):
            raise ParamsError(f"{full_key}: is a params section; set its keys, not the section")
        if not isinstance(value, Params):
            value = _check_type(full_key, value, field.type)
        field.value = value

    def __contains__(self, key: str) -> bool:
        return key in self.keys()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Params) and self.ToText() == other.ToText()

    def __repr__(self) -> str:
        return self.ToText()

    def Set(self, **kwargs: Any) -> Params:
        """Set several fields of this node; returns self for chaining."""
        for name, value in kwargs.items():
            setattr(self, name, value)
        return self

    def Get(self, key: str) -> Any:
        """The value at dotted `key`."""
        node, name = self._resolve(key)
        return node._fields[name].value

    def SetKey(self, key: str, value: Any) -> None:
        """Set the value at dotted `key` (checked against the field's type)."""
        node, name = self._resolve(key)
        node._set_local(name, value, key)

    def Override(self, key: str, text: str) -> None:
        """Set dotted `key` from command-line text, parsed to the field's type."""
        node, name = self._resolve(key)
        node._set_local(name, parse_value(key, text, node._fields[name].type), key)

    def Doc(self, key: str) -> str:
        node, name = self._resolve(key)
        return node._fields[name].doc

    def _resolve(self, key: str) -> tuple[Params, str]:
        node: Params = self
        parts = key.split(".")
        for i, part in enumerate(parts):
            fields = node._fields
            if part not in fields or (
                i < len(parts) - 1 and not isinstance(fields[part].value, Params)
            ):
                raise ParamsError(self._unknown_key_message(key))
            if i < len(parts) - 1:
                node = fields[part].value
        if isinstance(node._fields[parts[-1]].value, Params):
            raise ParamsError(f"{key}: is a params section, not a value; use one of its keys")
        return node, parts[-1]

    def _unknown_key_message(self, key: str) -> str:
        close = difflib.get_close_matches(key, self.keys(), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        return f"unknown params key {key!r}{hint}"

    # -- walking ---------------------------------------------------------------------------
    def items(self, prefix: str = "") -> Iterator[tuple[str, Any]]:
        """Every (dotted key, value) leaf, sorted by key."""
        for name in sorted(self._fields):
            value = self._fields[name].value
            key = f"{prefix}{name}"
            if isinstance(value, Params):
                yield from value.items(key + ".")
            else:
                yield key, value

    def keys(self) -> list[str]:
        return [k for k, _ in self.items()]

    # -- copying and freezing --------------------------------------------------------------
    def Copy(self) -> Params:
        """A deep, unfrozen copy."""
        twin = Params()
        for name, field in self._fields.items():
            value = field.value.Copy() if isinstance(field.value, Params) else _copy_leaf(field.value)
            twin._fields[name] = _Field(value, field.doc, field.type)
        return twin

    def Freeze(self) -> Params:
        """Refuse further assignment here and below; returns self."""
        object.__setattr__(self, "_frozen", True)
        for field in self._fields.values():
            if isinstance(field.value, Params):
                field.value.Freeze()
        return self

    @property
    def frozen(self) -> bool:
        return self._frozen

    # -- text ------------------------------------------------------------------------------
    def ToText(self) -> str:
        """Sorted `dotted.key : value` lines; `FromText` parses them back exactly."""
        return "".join(f"{k} : {_format_value(v)}\n" for k, v in self.items())

    def FromText(self, text: str) -> Params:
        """Set every key listed in `text` (as printed by `ToText`); returns self."""
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            key, sep, value = line.partition(" : ")
            if not sep:
                raise ParamsError(f"line {lineno}: expected 'key : value', got {line!r}")
            key = key.strip()
            node, name = self._resolve(key)
            expected = node._fields[name].type
            if value.startswith("@"):
                parsed: Any = _import_class(value[1:])
            else:
                try:
                    parsed = ast.literal_eval(value)
                except (ValueError, SyntaxError):
                    raise ParamsError(
                        f"line {lineno}: {key}: cannot parse value {value!r}"
                    ) from None
            node._set_local(name, _check_type(key, parsed, expected), key)
        return self

    def Hash(self) -> str:
        """sha256 of the printed params: identifies what trained a model."""
        return hashlib.sha256(self.ToText().encode()).hexdigest()

    def Instantiate(self) -> Any:
        """Build the object this params describes (`cls` field), Lingvo style."""
        if "cls" not in self._fields:
            raise ParamsError("params have no 'cls' field to instantiate")
        return self.cls(self)


def _copy_leaf(value: Any) -> Any:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def diff(a: Params, b: Params) -> list[tuple[str, Any, Any]]:
    """Keys whose values differ between `a` and `b` (missing on one side shows as `<absent>`)."""
    left, right = dict(a.items()), dict(b.items())
    absent = "<absent>"
    out = []
    for key in sorted(set(left) | set(right)):
        lv, rv = left.get(key, absent), right.get(key, absent)
        if _format_value(lv) != _format_value(rv):
            out.append((key, lv, rv))
    return out


def format_diff(rows: list[tuple[str, Any, Any]], left: str = "a", right: str = "b") -> str:
    lines = [f"{key} : {_format_value(lv)} ({left}) -> {_format_value(rv)} ({right})"
             for key, lv, rv in rows]
    return "\n".join(lines)
