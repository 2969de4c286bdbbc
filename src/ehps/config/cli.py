"""Command-line flags generated from a config dataclass tree, and the config built back from them.

Each field whose ``metadata`` holds ``flags`` (see :func:`ehps.config.infer.flag`) becomes one
argparse option in a group named after its section; the option's destination is the field's
dotted path (``detection.min_score``) and its default is *absent*, so that only the flags a user
typed override the lower layers. The layers, lowest first:

1. the dataclass defaults;
2. ``--config FILE`` (YAML, the same tree);
3. ``--set key.sub=value`` (dotted overrides, repeatable);
4. the flags typed on the command line.

Every layer goes through :mod:`ehps.config.loader`, so unknown keys and bad values are errors
that name the field and the closest valid key.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from ehps.config.loader import apply_overrides, load_yaml_overrides, parse_dotted

__all__ = ["add_config_flags", "config_from_args", "flag_fields"]

T = TypeVar("T")
_GROUP_TITLES = {"": "general"}


def _choices(token: Any) -> Any:
    if token == "body_models":
        from ehps.bodymodels.registry import list_body_models

        return tuple(list_body_models())
    return token


def _base_type(tp: Any) -> Any:
    """``X | None`` -> ``X``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def flag_fields(cls: type, prefix: str = "") -> list[tuple[str, dataclasses.Field, Any]]:
    """``(dotted path, field, type)`` of every field with flags, sections depth-first."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        path = f"{prefix}{f.name}"
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += flag_fields(tp, f"{path}.")
        elif "flags" in f.metadata:
            out.append((path, f, tp))
    return out


def add_config_flags(parser: argparse.ArgumentParser, cls: type,
                     skip: tuple[str, ...] = ()) -> None:
    """Add the flags of every field of ``cls`` (a config dataclass) to ``parser``, grouped by
    section, plus ``--config FILE`` and ``--set key=value``. ``skip``: dotted paths left out."""
    groups: dict[str, Any] = {}
    for path, f, tp in flag_fields(cls):
        if path in skip:
            continue
        section = path.rpartition(".")[0]
        if section not in groups:
            groups[section] = parser.add_argument_group(_GROUP_TITLES.get(section, section))
        meta = dict(f.metadata)
        names = meta.pop("flags")
        kwargs: dict[str, Any] = {"dest": path, "default": argparse.SUPPRESS,
                                  "help": f"{meta.pop('help')} [{path}]"}
        base = _base_type(tp)
        parse: Callable[[str], Any] | None = meta.pop("parse", None)  # in config_from_args
        invert = meta.pop("invert", False)
        if "choices" in meta:
            meta["choices"] = _choices(meta["choices"])
        if base is bool:
            kwargs["action"] = "store_false" if invert else "store_true"
        elif parse is not None:
            kwargs["type"] = str
        elif typing.get_origin(base) is Literal:
            kwargs["choices"] = typing.get_args(base)
        elif typing.get_origin(base) is tuple:
            kwargs["type"] = str
        elif base in (int, float, str):
            kwargs["type"] = base
        if base is not bool and "choices" not in meta:
            kwargs["metavar"] = {int: "N", float: "X"}.get(base, f.name.upper())
        kwargs.update(meta)
        groups[section].add_argument(*names, **kwargs)
    g = parser.add_argument_group("config")
    g.add_argument("--config", dest="config_file", default=None, metavar="YAML",
                   help="read options from a YAML file (the same keys as --set); flags win")
    g.add_argument("--set", dest="config_sets", action="append", default=[],
                   metavar="KEY=VALUE",
                   help="set any option by its dotted name, e.g. --set detection.min_score=0.3 "
                        "(repeatable; flags win)")


def _nested(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in flat.items():
        node = out
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = list(value) if isinstance(value, tuple) else value
    return out


def config_from_args(args: argparse.Namespace, cls: type[T], base: T | None = None) -> T:
    """The config of ``cls`` from the layers in the module docstring (``base``: the defaults)."""
    cfg = base if base is not None else cls()
    if getattr(args, "config_file", None):
        cfg = apply_overrides(cfg, load_yaml_overrides(args.config_file))
    sets = getattr(args, "config_sets", None) or []
    if sets:
        cfg = apply_overrides(cfg, parse_dotted(sets))
    typed = {}
    for path, f, _ in flag_fields(cls):
        if hasattr(args, path):
            value = getattr(args, path)
            parse = f.metadata.get("parse")
            typed[path] = parse(value) if parse is not None and isinstance(value, str) else value
    if typed:
        cfg = apply_overrides(cfg, _nested(typed))
    return cfg
