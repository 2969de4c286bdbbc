"""Typed training configuration: one nested dataclass tree (:class:`TrainConfig`).

Presets (:mod:`ehps.training.presets`) build complete configs in code; a YAML file or
``key.sub=value`` strings override fields through the shared strict loader
(:mod:`ehps.config.loader`: unknown keys and wrongly typed values are errors that name the closest
valid key). The resolved config is written beside every run (``config.yaml``) and embedded in
every checkpoint (``checkpoint["ehps_config"]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ehps.config.loader import (
    apply_overrides,
    build_config,
    config_to_dict,
    load_yaml_overrides,
    parse_dotted,
    save_config,
)
from ehps.geometry.constants import DEFAULT_BBOX_RATIO

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
        bbox_ratio: body crop enlargement (the official ``cfg.bbox_ratio``; HumanData boxes,
            already padded by 1.2, are processed with ``bbox_ratio * 0.833``); the same
            :data:`~ehps.geometry.crop.DEFAULT_BBOX_RATIO` as inference.
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
    bbox_ratio: float = DEFAULT_BBOX_RATIO


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


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build a :class:`TrainConfig` from a nested dict (missing keys take the defaults)."""
    return build_config(TrainConfig, data)
