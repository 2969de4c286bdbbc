"""Checkpoints: atomic Lightning checkpoints with RNG state, and network weights from any source.

Format choice: a run is checkpointed as a *Lightning* checkpoint (``.ckpt``, a ``torch.save``d
dict), written atomically by :class:`AtomicCheckpointIO` (temporary file in the same folder,
fsync, ``os.replace``) and read back with ``torch.load(weights_only=True)``. Lightning's file
already carries everything exact resume needs and keeps it consistent: network and optimizer
state, LR-scheduler position, loop progress (global step, epoch, batch index), the stateful train
loader's sampler position (:mod:`ehps.training.datamodule`) and callback states, among them the
per-rank RNG states of :class:`RNGStateCallback`. Re-creating that by hand (safetensors + a side
dict) would duplicate Lightning's restore logic. The ehps config is embedded
(``checkpoint["ehps_config"]``, ``["ehps_model_config"]``), and the final network is also
exported as an ehps ``.safetensors`` file (:func:`ehps.modeling.save_model`) for inference.

:func:`load_network_weights` reads network weights from an official ``.pth.tar``, an ehps
``.safetensors`` or an ehps training ``.ckpt`` (what ``ehps finetune --from`` accepts).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch import nn

from ehps.errors import CheckpointError
from ehps.training.config import TrainConfig
from ehps.utils.io import atomic_open

__all__ = [
    "AtomicCheckpointIO",
    "RNGStateCallback",
    "capture_rng_state",
    "restore_rng_state",
    "read_training_checkpoint",
    "load_network_weights",
    "build_network",
    "weights_config",
    "find_last_checkpoint",
]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that never leaves a half-written file and loads safely."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike[str],
                        storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO does not take storage_options")
        with atomic_open(path, "wb") as fh:
            torch.save(checkpoint, fh)

    def load_checkpoint(self, path: str | os.PathLike[str], map_location: Any | None = None,
                        weights_only: bool | None = None) -> dict[str, Any]:
        return read_training_checkpoint(path, map_location=map_location or "cpu")


# ------------------------------------------------------------------------------- RNG states
def capture_rng_state() -> dict[str, Any]:
    """This process's torch / CUDA / numpy / Python RNG states as weights-only-loadable types."""
    keys, pos, has_gauss, cached = np.random.get_state()[1:]  # noqa: NPY002 (global state)
    version, pystate, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np.asarray(keys, np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": int(version), "state": [int(x) for x in pystate],
                   "gauss": gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    legacy = ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
              n["cached"])
    np.random.set_state(legacy)  # noqa: NPY002 (restoring the global state)
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class RNGStateCallback(L.Callback):
    """Saves every rank's RNG states in the checkpoint and restores them right before the first
    training batch after a resume (after data-loader start-up, validation or anything else that
    might draw random numbers), so stochastic layers (drop-path) continue exactly."""

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        mine = capture_rng_state()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            world = torch.distributed.get_world_size()
            states: list[Any] = [None] * world
            torch.distributed.all_gather_object(states, mine)
            return {"world_size": world, "states": states}
        return {"world_size": 1, "states": [mine]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        if self._pending is None:
            return
        states = self._pending["states"]
        self._pending = None
        if len(states) != trainer.world_size:
            from lightning.pytorch.utilities import rank_zero_warn

            rank_zero_warn(
                f"checkpoint holds RNG states of {len(states)} processes, this run has "
                f"{trainer.world_size}: RNG states are not restored (the run continues, but not "
                "bit-exactly)"
            )
            return
        restore_rng_state(states[trainer.global_rank])


# ------------------------------------------------------------------------------- weights
def read_training_checkpoint(path: str | os.PathLike[str],
                             map_location: Any = "cpu") -> dict[str, Any]:
    """Load an ehps / Lightning training checkpoint with ``weights_only=True``."""
    from ehps.modeling.checkpoint import torch_load_safely

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    ckpt = torch_load_safely(p, mmap=False, map_location=map_location)
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{p} holds a {type(ckpt).__name__}, not a training checkpoint")
    return ckpt


def _is_training_checkpoint(path: Path) -> bool:
    return path.suffix == ".ckpt"


def load_network_weights(path: str | os.PathLike[str], variant: str | None = None,
                         **overrides: Any) -> nn.Module:
    """A network with the weights of ``path`` (architecture from the file).

    Args:
        path: official ``.pth.tar`` (variant inferred unless given), ehps ``.safetensors``, or an
            ehps training checkpoint ``.ckpt`` (its embedded model config is used).
        variant: zoo name for official files (needed when it cannot be inferred from the
            shapes; ignored for ``.safetensors`` / ``.ckpt``, which embed their config).
        **overrides: :class:`ehps.modeling.ModelConfig` overrides that do not change shapes
            (e.g. ``drop_path_rate``); shape-changing ones make loading fail.

    Returns:
        The network on the CPU in training mode.
    """
    from ehps.modeling import ModelConfig, build_model, load_model

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"weight file not found: {p}")
    if _is_training_checkpoint(p):
        ckpt = read_training_checkpoint(p)
        if "ehps_model_config" not in ckpt or "state_dict" not in ckpt:
            raise CheckpointError(
                f"{p} is not an ehps training checkpoint (no 'ehps_model_config' / 'state_dict')"
            )
        config = ModelConfig.from_json(ckpt["ehps_model_config"])
        if overrides:
            config = config.replace(**overrides)
        model = build_model(config, init=False)
        state = {k[len("model."):]: v for k, v in ckpt["state_dict"].items()
                 if k.startswith("model.")}
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{p}: weights do not fit the embedded config ({exc})") from exc
        return model.train()
    from ehps.modeling.weights import _is_safetensors

    if _is_safetensors(p):
        return load_model(p, **overrides).train()
    model = load_model(p, variant=variant, **overrides)
    # official zip files load memory-mapped: give training its own copy of every tensor
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            t.data = t.data.clone()
    return model.train()


def weights_config(path: str | os.PathLike[str], variant: str | None = None,
                   overrides: dict[str, Any] | None = None) -> Any:
    """The :class:`ehps.modeling.ModelConfig` of a weight file without building the network
    (``.ckpt``: embedded; ``.safetensors``: metadata; official: inferred from the shapes, or
    ``variant`` + ``overrides`` for files of a non-zoo width, e.g. tiny test networks)."""
    from ehps.modeling import ModelConfig, get_config

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"weight file not found: {p}")
    if _is_training_checkpoint(p):
        ckpt = read_training_checkpoint(p)
        if "ehps_model_config" not in ckpt:
            raise CheckpointError(f"{p} is not an ehps training checkpoint")
        return ModelConfig.from_json(ckpt["ehps_model_config"])
    from ehps.modeling.weights import _is_safetensors, read_metadata

    if _is_safetensors(p):
        meta = read_metadata(p)
        if "config" not in meta:
            raise CheckpointError(f"{p} is a safetensors file without an ehps model config")
        return ModelConfig.from_json(meta["config"])
    from ehps.modeling.checkpoint import infer_variant, read_official_state_dict

    state, _info = read_official_state_dict(p)
    guess = infer_variant(state)
    if variant is None and guess is None:
        raise CheckpointError(
            f"cannot infer the architecture of {p} (no zoo variant has its widths); pass the "
            "variant and the width overrides (ehps finetune --variant NAME "
            "--set model.overrides.embed_dim=...)"
        )
    return get_config(variant or guess, **(overrides or {}))


def build_network(cfg: TrainConfig) -> nn.Module:
    """The network of a config: random official init, then ViTPose encoder weights
    (``model.vitpose``) and / or earlier weights (``model.init_from``)."""
    from ehps.modeling import build_model, load_vitpose_backbone

    m = cfg.model
    if m.init_from:
        net = load_network_weights(m.init_from, variant=m.variant, **m.overrides)
        want = build_model(m.variant, device="meta", init=False, **m.overrides).config
        if net.config.family != want.family:
            raise CheckpointError(
                f"{m.init_from} holds a {net.config.family} network, the config trains "
                f"{want.family} ({m.variant}); set model.variant to match the weights"
            )
    else:
        net = build_model(m.variant, **m.overrides)
    if m.vitpose:
        load_vitpose_backbone(net, m.vitpose)
    return net.train()


def find_last_checkpoint(out_dir: str | os.PathLike[str]) -> Path | None:
    """``<out_dir>/checkpoints/last.ckpt`` if present, else the newest ``*.ckpt`` there."""
    d = Path(out_dir) / "checkpoints"
    if (d / "last.ckpt").is_file():
        return d / "last.ckpt"
    ckpts = sorted(d.glob("*.ckpt"), key=lambda q: q.stat().st_mtime)
    return ckpts[-1] if ckpts else None
