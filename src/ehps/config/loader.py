"""The one strict config loader: nested dataclasses <- YAML files <- dotted overrides <- flags.

Every config of ehps (:class:`ehps.training.TrainConfig`, :class:`ehps.config.InferConfig`) is a
tree of stdlib dataclasses with type hints. This module builds such a tree from plain data and
checks it against the hints:

- unknown keys (in YAML, in ``key.sub=value`` overrides, in Python keyword arguments) are errors
  that name the closest valid key (``bbox_ration`` -> "did you mean 'bbox_ratio'?");
- values are checked and converted for the hints used in ehps (``int``, ``float``, ``bool``,
  ``str``, ``Literal``, ``X | None``, ``list``, ``tuple``, ``dict``, nested dataclasses);
- free-form mapping fields (``dict[...]``, e.g. model overrides) are merged key by key.

YAML files are read by :func:`read_yaml_mapping` only (the single place a config file is parsed).
The resolved config can be written back (:func:`save_config`) and read again unchanged.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from ehps.errors import InputError
from ehps.utils.safe_yaml import load_yaml_file, load_yaml_text
from ehps.utils.suggest import closest_hint

__all__ = [
    "closest_hint",
    "check_keys",
    "config_to_dict",
    "build_config",
    "merge_dicts",
    "apply_overrides",
    "parse_dotted",
    "read_yaml_mapping",
    "load_yaml_overrides",
    "save_config",
]

T = TypeVar("T")


# --------------------------------------------------------------------------------- key checks
def check_keys(given: Iterable[str], valid: Iterable[str], where: str) -> None:
    """Raise :class:`InputError` for the first key of ``given`` not in ``valid``, naming the
    closest valid key and listing all of them."""
    valid = list(valid)
    for key in given:
        if key not in valid:
            raise InputError(f"{where}: unknown key '{key}'{closest_hint(key, valid)}; valid "
                             f"keys: {', '.join(valid)}")


def _is_free_mapping(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_is_free_mapping(a) for a in typing.get_args(tp))
    return origin is dict or tp is dict


# --------------------------------------------------------------------------------- conversion
def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict (tuples as lists, paths as strings) of a config dataclass."""
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, os.PathLike):
            return os.fspath(v)
        return v

    return plain(cfg)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check / convert ``value`` to annotation ``tp`` (the subset of typing used by ehps)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except InputError as exc:
                errors.append(str(exc))
        raise InputError(f"{where}: {value!r} does not fit {tp} ({'; '.join(errors)})")
    if origin is Literal:
        if value not in args:
            raise InputError(f"{where}: {value!r} is not one of {list(args)}"
                             f"{closest_hint(str(value), map(str, args))}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise InputError(f"{where}: expected {len(args)} values, got {value!r}")
            return tuple(_coerce(v, a, where) for v, a in zip(value, args))
        inner = args[0] if args else Any
        out = [_coerce(v, inner, where) for v in value]
        return tuple(out) if origin is tuple else out
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise InputError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise InputError(f"{where}: expected a mapping, got {value!r}")
        return build_config(tp, value, where)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if not isinstance(value, str):
            raise InputError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def build_config(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """``cls(**data)`` with every key checked and every value converted (nested mappings become
    nested dataclasses; missing keys take the defaults).

    Raises:
        InputError: an unknown key (with the closest valid one) or a value of the wrong type.
    """
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    check_keys(data, names, where or cls.__name__)
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    return cls(**kwargs)


def merge_dicts(base: dict[str, Any], update: Mapping[str, Any], cls: type | None = None,
                where: str = "") -> dict[str, Any]:
    """``base`` (a :func:`config_to_dict` tree) updated by a nested ``update``. Keys must exist
    in ``base``; sections are merged recursively, free-form mappings (``dict`` fields of ``cls``)
    key by key, anything else replaced."""
    hints = typing.get_type_hints(cls) if cls is not None else {}
    out = dict(base)
    check_keys(update, list(out), where or (cls.__name__ if cls else "config"))
    for k, v in update.items():
        path = f"{where}.{k}" if where else str(k)
        tp = hints.get(k)
        sub = tp if (tp is not None and dataclasses.is_dataclass(tp)) else None
        if isinstance(out[k], dict) and isinstance(v, Mapping) and sub is not None:
            out[k] = merge_dicts(out[k], v, sub, path)
        elif isinstance(out[k], dict) and isinstance(v, Mapping) and (
                tp is None or _is_free_mapping(tp)):
            out[k] = {**out[k], **v}
        else:
            out[k] = v
    return out


def apply_overrides(cfg: T, overrides: Mapping[str, Any]) -> T:
    """A new config of the same class with a nested dict of overrides applied (unknown keys are
    errors; free-form mappings such as ``model.overrides`` merge key by key)."""
    cls = type(cfg)
    return build_config(cls, merge_dicts(config_to_dict(cfg), overrides, cls))


# --------------------------------------------------------------------------------- text input
def _scalar(value: Any) -> Any:
    """YAML 1.1 reads ``2e-5`` (no dot) as a string; read such strings as numbers."""
    if isinstance(value, list):
        return [_scalar(v) for v in value]
    if isinstance(value, str):
        try:
            return float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            return value
    return value


def _numbers(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _numbers(v) for k, v in data.items()}
    return _scalar(data)


def parse_dotted(items: Iterable[str]) -> dict[str, Any]:
    """``["optim.lr=1e-4", "data.humandata=[a.npz, b.npz]"]`` -> nested dict (values parsed as
    YAML scalars / lists)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"override {item!r} must look like key.sub=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise InputError(f"override {item!r} has an empty key part")
        value = _scalar(load_yaml_text(raw, f"override {item!r}")) if raw.strip() else None
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise InputError(f"override {item!r} conflicts with another override")
        node[parts[-1]] = value
    return out


def read_yaml_mapping(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML file that holds a mapping (the one place ehps parses a config file).

    Raises:
        InputError: missing file, invalid YAML, or not a mapping.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"config file not found: {p}")
    data = load_yaml_file(p)  # bounded: refuses alias bombs, deep nesting and huge files
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{p} must hold a mapping of config keys, got {type(data).__name__}")
    return data


def load_yaml_overrides(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML override file (a mapping; numbers written like ``2e-5`` are numbers)."""
    return _numbers(read_yaml_mapping(path))


def save_config(cfg: Any, path: str | os.PathLike[str]) -> Path:
    """Write the resolved config as YAML (atomically)."""
    from ehps.utils.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return Path(path)
