"""``lazy_getattr`` / ``lazy_exports``: the packages' lazy attributes resolve to the objects their
submodules define (compared with a direct import), and unknown names raise ``AttributeError`` like
a missing attribute does."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import ehps.config
import ehps.fitting
import ehps.inference
import ehps.io
import ehps.training
from ehps.utils.lazy import lazy_exports, lazy_getattr


def test_resolves_to_the_submodule_attribute() -> None:
    getter = lazy_getattr("pkg", {"sqrt": "math", "dumps": "json"})
    assert getter("sqrt") is importlib.import_module("math").sqrt
    assert getter("dumps") is importlib.import_module("json").dumps


def test_unknown_name_raises_attribute_error() -> None:
    getter = lazy_getattr("ehps.something", {"sqrt": "math"})
    with pytest.raises(AttributeError, match=r"module 'ehps.something' has no attribute 'cos'"):
        getter("cos")
    assert not hasattr(ehps.fitting, "no_such_name")


def test_exports_group_names_by_module() -> None:
    getter, names = lazy_exports("pkg", {"math": ["sqrt", "pi"], "json": ["dumps"]})
    assert names == ["sqrt", "pi", "dumps"]
    assert getter("pi") is importlib.import_module("math").pi
    assert getter("dumps") is importlib.import_module("json").dumps


@pytest.mark.parametrize("package", [ehps.fitting, ehps.inference, ehps.config, ehps.io,
                                     ehps.training])
def test_package_tables_resolve(package) -> None:
    table = package.__getattr__.table
    assert sorted(table) == sorted(package.__all__)
    for name in package.__all__:
        module = importlib.import_module(table[name])
        assert getattr(package, name) is getattr(module, name)


def test_importing_a_package_does_not_import_its_submodules() -> None:
    code = ("import sys, ehps.inference; print('ehps.inference.predictor' in sys.modules, "
            "'ehps.fitting.fitter' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
