"""Synthetic official-format checkpoints for tests and demos (random weights, official layout).

Other test suites (evaluation, inference) need an official ``.pth.tar`` without downloading the
real ones; this writes one from a randomly initialised ehps network, in the container and key
naming of the released files (official-spec b.2): ``{'epoch', 'network', 'optimizer'}``,
``module.`` prefixes, optionally the legacy names (``backbone``, ``body_rotation_net``,
``hand_rotation_net``) and a ``smplx_layer`` buffer that loaders must drop.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ehps.modeling.checkpoint import OFFICIAL_RENAMES
from ehps.modeling.zoo import build_model
from ehps.utils.io import atomic_open

__all__ = ["official_network_dict", "write_synthetic_official_checkpoint"]


def official_network_dict(
    model: torch.nn.Module, legacy_names: bool = False, with_smplx_layer: bool = True
) -> dict[str, torch.Tensor]:
    """``model``'s state dict under official key names (``module.`` prefix, optional legacy
    top-level names, plus a dummy ``smplx_layer`` entry)."""
    inverse = {v: k for k, v in OFFICIAL_RENAMES.items()}
    out: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        head, dot, rest = key.partition(".")
        if legacy_names:
            head = inverse.get(head, head)
        out[f"module.{head}{dot}{rest}"] = value.detach()
    if with_smplx_layer:
        out["module.smplx_layer.shapedirs"] = torch.zeros(4, 3, 2)
    return out


def write_synthetic_official_checkpoint(
    path: str | os.PathLike[str],
    variant: str,
    *,
    seed: int = 0,
    legacy_names: bool = False,
    with_optimizer: bool = True,
    **overrides: Any,
) -> Path:
    """Write a random-weight checkpoint in the official format and return its path.

    Args:
        path: output file (``.pth.tar``), written atomically with ``torch.save``.
        variant: zoo name; ``overrides`` (e.g. ``embed_dim=64, depth=2, num_heads=2``) make a tiny
            one, loadable with ``load_official_checkpoint(path, variant, **overrides)``.
        seed: torch seed for the weights (and the BatchNorm running statistics).
        legacy_names: use the older module names the official loader renames.
        with_optimizer: add an Adam-like ``optimizer`` state (two moments per parameter).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(variant, **overrides)
        for m in model.modules():  # non-trivial BatchNorm statistics, so that they matter
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.data.normal_(1.0, 0.1)
                m.bias.data.normal_(0.0, 0.1)
                m.num_batches_tracked.fill_(123)
    network = official_network_dict(model, legacy_names=legacy_names)
    ckpt: dict[str, Any] = {"epoch": 9, "network": network}
    if with_optimizer:
        params = [p.detach() for p in model.parameters()]
        ckpt["optimizer"] = {
            "state": {
                i: {
                    "step": torch.tensor(1000.0),
                    "exp_avg": torch.zeros_like(p),
                    "exp_avg_sq": torch.zeros_like(p),
                }
                for i, p in enumerate(params)
            },
            "param_groups": [
                {
                    "lr": 1e-5,
                    "betas": (0.9, 0.999),
                    "eps": 1e-8,
                    "weight_decay": 0,
                    "amsgrad": False,
                    "params": list(range(len(params))),
                }
            ],
        }
    with atomic_open(path, "wb") as fh:
        torch.save(ckpt, fh)
    return Path(path)
