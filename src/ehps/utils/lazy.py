"""Lazy module attributes: a package names what it exports and the submodule that defines each
name; the submodule is imported on first access (PEP 562 ``__getattr__``), so importing the
package stays cheap and never touches optional back-ends."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_getattr", "lazy_exports"]


def lazy_getattr(package: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` that resolves ``table`` lazily.

    Args:
        package: the dotted name of the module that installs it (its ``__name__``), used in the
            error message.
        table: exported name -> dotted name of the module that defines it.

    Returns:
        ``__getattr__(name)``: imports ``table[name]`` and returns its attribute ``name``; raises
        ``AttributeError`` for any other name (as Python does for a missing attribute).

    Example::

        _LAZY = {"Predictor": "ehps.inference.predictor"}
        __getattr__ = lazy_getattr(__name__, _LAZY)
    """

    def __getattr__(name: str) -> Any:
        if name in table:
            return getattr(importlib.import_module(table[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    __getattr__.table = dict(table)  # type: ignore[attr-defined]
    return __getattr__


def lazy_exports(package: str, modules: Mapping[str, Sequence[str]]
                 ) -> tuple[Callable[[str], Any], list[str]]:
    """A package's ``__getattr__`` and ``__all__`` from the names each submodule exports.

    Args:
        package: the package's ``__name__``.
        modules: dotted submodule name -> the names it defines that the package exports.

    Example::

        __getattr__, __all__ = lazy_exports(__name__, {
            "ehps.inference.predictor": ["Predictor"],
            "ehps.inference.runner": ["run_inference", "InferReport"],
        })
    """
    table = {name: module for module, names in modules.items() for name in names}
    return lazy_getattr(package, table), list(table)
