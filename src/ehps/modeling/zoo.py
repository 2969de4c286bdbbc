"""Model zoo: variant name -> :class:`ModelConfig`, and the one place that builds networks.

Variants (official-spec a.1; parameter counts checked in ``tests/modeling/test_model_zoo.py``):

=================  =========  ====  =====  =====  =========  ===============================
name               family     C     depth  heads  drop_path  official weights (params)
=================  =========  ====  =====  =====  =========  ===============================
``smplerx_s32``    SMPLer-X   384   12     12     0.10       smpler_x_s32.pth.tar (32.0M)
``smplerx_b32``    SMPLer-X   768   12     12     0.30       smpler_x_b32.pth.tar (102.9M)
``smplerx_l32``    SMPLer-X   1024  24     16     0.50       smpler_x_l32.pth.tar (326.7M)
``smplerx_h32``    SMPLer-X   1280  32     16     0.55       smpler_x_h32*.pth.tar (661.8M)
``smplestx_s``     SMPLest-X  384   12     12     0.10       none released (37.4M)
``smplestx_b``     SMPLest-X  768   12     12     0.30       none released (116.6M)
``smplestx_l``     SMPLest-X  1024  24     16     0.50       none released (346.1M)
``smplestx_h``     SMPLest-X  1280  32     16     0.55       smplest_x_h.pth.tar (687.2M)
=================  =========  ====  =====  =====  =========  ===============================

The SMPLer-X architectures do not depend on the training-data count, so ``smplerx_h20`` etc. are
aliases of the ``*32`` entries; ``smplestx_h40`` is an alias of ``smplestx_h``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ehps.errors import InputError
from ehps.modeling.config import ModelConfig

__all__ = ["register_model", "list_models", "get_config", "build_model", "resolve_name"]

_REGISTRY: dict[str, Callable[[], ModelConfig]] = {}
_ALIASES: dict[str, str] = {}

#: (C, depth, heads, drop_path) per ViT size.
_VIT_SIZES: dict[str, tuple[int, int, int, float]] = {
    "s": (384, 12, 12, 0.10),
    "b": (768, 12, 12, 0.30),
    "l": (1024, 24, 16, 0.50),
    "h": (1280, 32, 16, 0.55),
}


def register_model(name: str) -> Callable[[Callable[[], ModelConfig]], Callable[[], ModelConfig]]:
    """Decorator: register a zero-argument config factory under ``name``."""

    def wrap(factory: Callable[[], ModelConfig]) -> Callable[[], ModelConfig]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return wrap


def _register_size(size: str) -> None:
    c, depth, heads, dpr = _VIT_SIZES[size]
    smplerx, smplestx = f"smplerx_{size}32", f"smplestx_{size}"
    register_model(smplerx)(
        lambda: ModelConfig(
            "smplerx", c, depth, heads, num_task_tokens=31, drop_path_rate=dpr, name=smplerx
        )
    )
    register_model(smplestx)(
        lambda: ModelConfig(
            "smplestx", c, depth, heads, num_task_tokens=80, drop_path_rate=dpr, name=smplestx
        )
    )
    for n_data in (5, 10, 20):
        _ALIASES[f"smplerx_{size}{n_data}"] = smplerx
    _ALIASES[f"smplestx_{size}40"] = smplestx


for _size in _VIT_SIZES:
    _register_size(_size)


def list_models(pattern: str = "*") -> list[str]:
    """Registered variant names matching a shell-style ``pattern`` (aliases not listed)."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def resolve_name(name: str) -> str:
    """The canonical variant name for ``name`` (aliases, ``-`` vs ``_`` and case tolerated)."""
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        close = fnmatch.filter(list_models(), f"*{key.split('_')[-1]}*") if "_" in key else []
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise InputError(
            f"unknown model variant {name!r}{hint}; available: {', '.join(list_models())}"
        )
    return key


def get_config(name: str | ModelConfig, **overrides: Any) -> ModelConfig:
    """The registered config of ``name`` (or the given config) with ``overrides`` applied."""
    config = name if isinstance(name, ModelConfig) else _REGISTRY[resolve_name(name)]()
    return config.replace(**overrides) if overrides else config


def build_model(
    name: str | ModelConfig,
    *,
    init: bool = True,
    device: torch.device | str | None = None,
    **overrides: Any,
) -> nn.Module:
    """Build a SMPLer-X or SMPLest-X network with random (official-style) initialisation.

    Args:
        name: a variant name from :func:`list_models` (or an alias), or a :class:`ModelConfig`.
        init: apply the official random initialisation (skip when weights are loaded next).
        device: where to allocate the parameters (``"meta"`` builds without memory, e.g. to
            count parameters); default: torch's current default device.
        **overrides: :class:`ModelConfig` fields to change, e.g. tiny widths for tests:
            ``build_model("smplerx_s32", embed_dim=64, depth=2, num_heads=2)``.

    Returns:
        The network in training mode (``.eval()`` it for inference); ``model.config`` holds the
        resolved :class:`ModelConfig`.
    """
    from ehps.modeling.smplerx import SMPLerX
    from ehps.modeling.smplestx import SMPLestX

    config = get_config(name, **overrides)
    cls = SMPLerX if config.family == "smplerx" else SMPLestX
    if device is None:
        model = cls(config)
    else:
        with torch.device(device):
            model = cls(config)
    if init and not any(p.is_meta for p in model.parameters()):
        model.init_weights()
    return model
