"""Typed training configuration: one nested dataclass tree, YAML overrides, dotted CLI overrides.

:class:`TrainConfig` holds everything a run needs (model, data, optimisation, trainer,
checkpointing). Presets (:mod:`ehps.training.presets`) build complete configs in code; a YAML file
or ``key.sub=value`` strings override fields. Unknown keys and wrongly typed values are errors
(no silent defaults). The resolved config is written beside every run (``config.yaml``) and
embedded in every checkpoint (``checkpoint["ehps_config"]``).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ehps.errors import InputError
from ehps.utils.safe_yaml import load_yaml_file

__all__ = [
    "ModelSection",
    "DataSection",
    "OptimSection",
    "TrainerSection",
    "CheckpointSection",
    "TrainConfig",
    "FreezeOption",
    "apply_overrides",
    "parse_dotted",
    "load_yaml_overrides",
    "config_to_dict",
    "config_from_dict",
    "save_config",
]

FreezeOption = Literal["none", "backbone", "neck_and_head", "head"]


@dataclass
class ModelSection:
    """The network.

    Attributes:
        variant: zoo name (``ehps.modeling.list_models()``; aliases such as ``smplerx_h20``).
        overrides: :class:`ehps.modeling.ModelConfig` field overrides (e.g. narrow widths).
        vitpose: ViTPose checkpoint for the encoder (``vitpose_{small,...}.pth``), or ``None``.
        init_from: weights to start from (official ``.pth.tar``, ehps ``.safetensors`` or an ehps
            training checkpoint ``.ckpt``; the fine-tuning ``continue_train`` + ``start_over``).
        freeze: ``"none"`` (train everything); official ``fine_tune`` options: ``"backbone"``
            (train only the encoder), ``"neck_and_head"`` (freeze the encoder), ``"head"``
            (freeze encoder and neck; SMPLer-X neck = box net + hand RoI net).
        smplx_dir: SMPL-X model folder for the losses (``None``: ``$EHPS_BODY_MODELS`` / user
            data dir).
        head_init: ``"official"`` (random heads, as released) or ``"data_mean"`` (output layers
            start at the training set's mean parameters, HMR-style; see
            :mod:`ehps.training.head_init`); ignored with ``init_from`` and on resume.
        stem_init: ``"official"`` or ``"input_stats"`` (fold the training images' per-channel
            normalisation into a random-init patch embedding, see
            :mod:`ehps.training.head_init`); ignored with ``vitpose``, ``init_from`` and on
            resume.
    """

    variant: str = "smplerx_s32"
    overrides: dict[str, Any] = field(default_factory=dict)
    vitpose: str | None = None
    init_from: str | None = None
    freeze: FreezeOption = "none"
    smplx_dir: str | None = None
    head_init: Literal["official", "data_mean"] = "official"
    stem_init: Literal["official", "input_stats"] = "official"


@dataclass
class DataSection:
    """Training (and validation) data.

    Attributes:
        root: data root (``None``: ``$EHPS_TRAIN_DATA`` or ``<user data dir>/datasets``).
        mixture: dataset-catalog preset (``ehps.data.list_presets()``), used unless ``humandata``
            is given.
        humandata: explicit HumanData files (data-root relative or absolute) trained as one
            mixture, image paths relative to the data root (what ``ehps synth`` writes).
        val_humandata: HumanData files for validation (losses and, with full SMPL-X labels,
            MPVPE), or empty for no validation.
        strategy: ``balance`` / ``concat`` / ``weighted``, ``None``: the mixture's own.
        total_data_len: samples per epoch for ``balance``; ``None``: the mixture's own.
        batch_size: samples per process per step.
        num_workers: DataLoader worker processes per process.
        augment: official augmentation (scale, rotation, flip, colour).
        image_uint8: move uint8 images from the workers (converted on the device).
        cache_dir: HumanData decompression cache.
    """

    root: str | None = None
    mixture: str = "smplerx_top32"
    humandata: list[str] = field(default_factory=list)
    val_humandata: list[str] = field(default_factory=list)
    strategy: Literal["balance", "concat", "weighted"] | None = None
    total_data_len: int | None = None
    batch_size: int = 32
    num_workers: int = 2
    augment: bool = True
    image_uint8: bool = True
    cache_dir: str | None = None


@dataclass
class OptimSection:
    """Adam with per-iteration cosine decay (official-spec c.3).

    Attributes:
        lr: base learning rate (official 1e-5; L5: 2e-5).
        min_lr: cosine floor (official 1e-6; specialists 5e-7).
        epochs: training epochs (SMPLer-X 10, SMPLest-X 20, specialists 5).
        max_steps: stop after this many optimiser steps (``None``: ``epochs``); the cosine
            schedule spans ``min(max_steps, epochs x steps per epoch)``.
        weight_decay: Adam weight decay (official 0).
        betas: Adam betas.
        accumulate_grad_batches: micro-batches per optimiser step.
        gradient_clip_val: gradient-norm clipping (official: none).
        warmup_steps: linear warm-up steps (official 0).
    """

    lr: float = 1e-5
    min_lr: float = 1e-6
    epochs: int = 10
    max_steps: int | None = None
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    accumulate_grad_batches: int = 1
    gradient_clip_val: float | None = None
    warmup_steps: int = 0


@dataclass
class TrainerSection:
    """Lightning Trainer / distributed setup.

    Attributes:
        accelerator: ``"auto"``, ``"cpu"``, ``"gpu"``...
        devices: processes per node (``"auto"``, an int, or from torchrun / SLURM).
        num_nodes: nodes (``None``: from torchrun / SLURM environment variables, else 1).
        strategy: ``"auto"``, ``"ddp"``, ``"ddp_spawn"``, ``"fsdp"``.
        precision: ``"32-true"`` or ``"bf16-mixed"``.
        seed: global seed (sampler, augmentation seeds, initialisation).
        log_every_n_steps: metrics logging interval.
        val_every_n_steps: validation interval in training batches (``None``: once per epoch).
        limit_val_batches: cap on validation batches per run of validation.
        threads: torch CPU threads per process (``None``: torch default).
        deterministic: ``torch.use_deterministic_algorithms``.
    """

    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int | None = None
    strategy: str = "auto"
    precision: Literal["32-true", "bf16-mixed"] = "32-true"
    seed: int = 2023
    log_every_n_steps: int = 10
    val_every_n_steps: int | None = None
    limit_val_batches: int | float = 1.0
    threads: int | None = None
    deterministic: bool = False


@dataclass
class CheckpointSection:
    """Atomic checkpoints.

    Attributes:
        every_n_steps: write ``step=N.ckpt`` every N optimiser steps (0: only at the end).
        keep_last: how many step checkpoints to keep (-1: all).
        save_last: maintain ``last.ckpt`` (what ``--resume`` picks by default).
        export_safetensors: write ``model.safetensors`` (ehps weight format) at the end.
    """

    every_n_steps: int = 1000
    keep_last: int = 3
    save_last: bool = True
    export_safetensors: bool = True


@dataclass
class TrainConfig:
    """A complete training run.

    Attributes:
        name: run / preset name.
        out_dir: run folder (checkpoints, metrics CSV, curves PNG, config); ``None`` means
            ``./ehps_runs/<name>`` resolved by the CLI (never implicitly by the library).
        model, data, optim, trainer, checkpoint: sections.
        loss_weights: overrides of the official loss weights (field names of
            :class:`ehps.losses.SMPLerXLossWeights` / :class:`~ehps.losses.SMPLestXLossWeights`).
    """

    name: str = "run"
    out_dir: str | None = None
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    trainer: TrainerSection = field(default_factory=TrainerSection)
    checkpoint: CheckpointSection = field(default_factory=CheckpointSection)
    loss_weights: dict[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> str:
        """``"smplerx"`` or ``"smplestx"`` (from the variant name)."""
        from ehps.modeling.zoo import get_config

        return get_config(self.model.variant).family


# ------------------------------------------------------------------------------- conversion
def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict (tuples as lists) of a config dataclass."""
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        return v

    return plain(cfg)


def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check / convert ``value`` to annotation ``tp`` (small subset of typing used here)."""
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
            raise InputError(f"{where}: {value!r} is not one of {list(args)}")
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
    if origin is dict:
        if not isinstance(value, dict):
            raise InputError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise InputError(f"{where}: expected a mapping, got {value!r}")
        return _build(tp, value, where)
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
        if not isinstance(value, str):
            raise InputError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = _type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise InputError(
            f"{where or 'config'}: unknown key(s) {unknown}; valid keys are {names}"
        )
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build a :class:`TrainConfig` from a nested dict (missing keys take the defaults)."""
    return _build(TrainConfig, data, "")


def _merge(base: dict[str, Any], update: dict[str, Any], where: str = "") -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        path = f"{where}.{k}" if where else str(k)
        if k not in out:
            raise InputError(f"unknown config key '{path}'; valid here: {sorted(out)}")
        if isinstance(out[k], dict) and isinstance(v, dict) and k not in (
                "overrides", "loss_weights"):
            out[k] = _merge(out[k], v, path)
        elif isinstance(out[k], dict) and isinstance(v, dict):
            out[k] = {**out[k], **v}
        else:
            out[k] = v
    return out


def apply_overrides(cfg: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """A new config with a nested dict of overrides applied (unknown keys are errors; the
    free-form ``model.overrides`` and ``loss_weights`` mappings are merged key by key)."""
    return config_from_dict(_merge(config_to_dict(cfg), overrides))


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


def parse_dotted(items: list[str]) -> dict[str, Any]:
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
        value = _scalar(yaml.safe_load(raw)) if raw.strip() else None
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise InputError(f"override {item!r} conflicts with another override")
        node[parts[-1]] = value
    return out


def _numbers(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _numbers(v) for k, v in data.items()}
    return _scalar(data)


def load_yaml_overrides(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML override file (a mapping; may contain ``preset: <name>``)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"config file not found: {p}")
    data = _numbers(load_yaml_file(p))  # bounded: refuses alias bombs and deep nesting
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{p} must hold a mapping of config keys, got {type(data).__name__}")
    return data


def save_config(cfg: TrainConfig, path: str | os.PathLike[str]) -> Path:
    """Write the resolved config as YAML (atomically)."""
    from ehps.utils.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return Path(path)
