"""Training presets as code: every zoo variant x dataset mix, and the six specialists.

Names (official recipe, official-spec c.3 / c.5):

- ``smplerx_{s,b,l,h}{5,10,20,32}``: SMPLer-X on the top-K mixture (``smplerx_topK``), Adam
  1e-5 -> 1e-6 over 10 epochs, batch 32 per GPU (16 for ViT-H), ViTPose initialisation
  (``model.vitpose`` must be set to the file), L5 with lr 2e-5;
- ``smplestx_{s,b,l,h}40``: SMPLest-X on the released (SynHand template) mixture, 20 epochs,
  batch 16, lr 1e-5 -> 1e-6;
- ``smplerx_ft_{agora,3dpw,egobody,ubody,arctic,renbody}``: specialists fine-tuned from H32
  (``model.init_from``), 5 epochs, lr 1e-5 -> 5e-7, total_data_len 1M, batch 16, full-network
  tuning (``model.freeze`` may pick an official ``fine_tune`` option);
- ``synthetic_smplerx`` / ``synthetic_smplestx``: narrow networks (width 64, 2 blocks, a conv
  stem instead of the patchify convolution, the 512x384 input contract) trained from random init
  for the CPU end-to-end check on data written by ``ehps synth`` (``data.humandata`` must be
  set): official losses and augmentation, batch 16, Adam 1e-3 with 100 warm-up steps and a
  per-step cosine to 1e-5 over 3000 steps, heads started at the training set's mean parameters
  and the input statistics folded into the first convolution (:mod:`ehps.training.head_init`),
  in-process loading and 2 threads (a 2-core CPU).
- ``synthetic_pose2d``: the ViTPose stage of the official recipe in miniature: the narrow
  SMPLer-X trained on the same kind of data with only its keypoint-heatmap terms (``joint_img``
  and ``smplx_joint_img``: 2D positions plus root-relative depth bins; no SMPL-X parameters, no
  3D joints), 1500 steps. Its encoder, written with
  :func:`ehps.modeling.save_vitpose_backbone`, starts either family through ``model.vitpose``.
  Why: a network that reads its answer through attention (SMPLest-X's task tokens) learns the
  spatial features it needs slowly from the parameter losses alone (248.6 mm after 3000 steps
  from scratch); with a heatmap-trained encoder it learns fast (see ``train_synthetic_demo``).

The official runs were fp32, so the presets keep ``trainer.precision = "32-true"``;
``--precision bf16-mixed`` (or a YAML override) switches to bf16 autocast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ehps.errors import InputError
from ehps.training.config import (
    CheckpointSection,
    DataSection,
    ModelSection,
    OptimSection,
    TrainConfig,
    TrainerSection,
)

__all__ = ["register_train_preset", "get_train_preset", "list_train_presets", "SPECIALISTS",
           "NARROW_OVERRIDES", "POSE2D_ZEROED_TERMS"]

_PRESETS: dict[str, Callable[[], TrainConfig]] = {}

SPECIALISTS: tuple[str, ...] = ("agora", "3dpw", "egobody", "ubody", "arctic", "renbody")

#: Narrow architectures for CPU training from scratch (keep the 512x384 input contract). The
#: conv stem (``stem="conv"``, not official) is what lets a width-64 encoder learn from a thousand
#: images: SMPLer-X at lr 1e-3, 3,000 steps, held-out MPVPE 195.4 mm with it, 261.5 mm with the
#: patchify stem (constant 279.5); see :class:`ehps.modeling.backbones.vit.ConvStem`.
NARROW_OVERRIDES: dict[str, dict[str, object]] = {
    "smplerx": {"embed_dim": 64, "depth": 2, "num_heads": 4, "head_dim": 64, "box_dim": 32,
                "drop_path_rate": 0.0, "stem": "conv"},
    "smplestx": {"embed_dim": 64, "depth": 2, "num_heads": 4, "decoder_depth": 2,
                 "decoder_heads": 4, "decoder_head_dim": 16, "decoder_dim_out": 64,
                 "drop_path_rate": 0.0, "stem": "conv"},
}


def register_train_preset(name: str) -> Callable[[Callable[[], TrainConfig]],
                                                 Callable[[], TrainConfig]]:
    """Decorator: register a zero-argument :class:`TrainConfig` factory."""

    def wrap(factory: Callable[[], TrainConfig]) -> Callable[[], TrainConfig]:
        if name in _PRESETS:
            raise ValueError(f"training preset {name!r} is already registered")
        _PRESETS[name] = factory
        return factory

    return wrap


def list_train_presets() -> list[str]:
    return sorted(_PRESETS)


def get_train_preset(name: str) -> TrainConfig:
    """A fresh config of preset ``name`` (``-`` and case tolerated)."""
    key = name.strip().lower().replace("-", "_")
    if key not in _PRESETS:
        raise InputError(
            f"unknown training preset {name!r}; available: {', '.join(list_train_presets())}"
        )
    return _PRESETS[key]()


def _smplerx(size: str, k: int) -> TrainConfig:
    return TrainConfig(
        name=f"smplerx_{size}{k}",
        model=ModelSection(variant=f"smplerx_{size}32"),
        data=DataSection(mixture=f"smplerx_top{k}", batch_size=16 if size == "h" else 32),
        optim=OptimSection(lr=2e-5 if (size, k) == ("l", 5) else 1e-5, min_lr=1e-6, epochs=10),
        trainer=TrainerSection(seed=2023),
        checkpoint=CheckpointSection(every_n_steps=2000),
    )


def _smplestx(size: str) -> TrainConfig:
    return TrainConfig(
        name=f"smplestx_{size}40",
        model=ModelSection(variant=f"smplestx_{size}"),
        data=DataSection(mixture="smplestx_release", batch_size=16),
        optim=OptimSection(lr=1e-5, min_lr=1e-6, epochs=20),
        trainer=TrainerSection(seed=2023),
        checkpoint=CheckpointSection(every_n_steps=2000),
    )


def _specialist(tag: str) -> TrainConfig:
    return TrainConfig(
        name=f"smplerx_ft_{tag}",
        model=ModelSection(variant="smplerx_h32"),
        data=DataSection(mixture=f"smplerx_ft_{tag}", batch_size=16, total_data_len=1_000_000),
        optim=OptimSection(lr=1e-5, min_lr=5e-7, epochs=5),
        trainer=TrainerSection(seed=2023),
        checkpoint=CheckpointSection(every_n_steps=2000),
    )


def _synthetic(family: str) -> TrainConfig:
    variant = "smplerx_s32" if family == "smplerx" else "smplestx_s"
    return TrainConfig(
        name=f"synthetic_{family}",
        model=ModelSection(variant=variant, overrides=dict(NARROW_OVERRIDES[family]),
                           head_init="data_mean", stem_init="input_stats"),
        # in-process loading: on 2 cores a worker process competes with the 2 OpenMP threads
        data=DataSection(strategy="concat", batch_size=16, num_workers=0, augment=True),
        # 1e-3, not 3e-4: the official heads start at N(0, 0.001) / N(0, 0.01) weights and Adam
        # moves a weight by about lr per step; at 3e-4 the training loss stayed flat for 3,000
        # steps (SMPLer-X held-out MPVPE 262.6 mm, constant 279.5), at 1e-3 (with the conv stem)
        # SMPLer-X reaches 195.4 mm and SMPLest-X 248.6 mm from scratch, 169.4 and 160.6 mm from
        # the synthetic_pose2d encoder (scripts/train_synthetic_demo.py; constant 279.5 mm)
        optim=OptimSection(lr=1e-3, min_lr=1e-5, epochs=1000, max_steps=3000, warmup_steps=100),
        trainer=TrainerSection(seed=0, log_every_n_steps=20, val_every_n_steps=250,
                               threads=2),
        checkpoint=CheckpointSection(every_n_steps=500, keep_last=2),
    )


#: SMPLer-X loss terms switched off in ``synthetic_pose2d``: everything but the two keypoint-
#: heatmap terms (``joint_img``, ``smplx_joint_img``).
POSE2D_ZEROED_TERMS: tuple[str, ...] = ("smplx_pose", "smplx_shape", "smplx_expr", "joint_cam",
                                        "smplx_joint_cam", "joint_proj", "bbox")


def _synthetic_pose2d() -> TrainConfig:
    cfg = _synthetic("smplerx")
    return replace(
        cfg,
        name="synthetic_pose2d",
        loss_weights=dict.fromkeys(POSE2D_ZEROED_TERMS, 0.0),
        optim=replace(cfg.optim, max_steps=1500),
    )


for _size in ("s", "b", "l", "h"):
    for _k in (5, 10, 20, 32):
        register_train_preset(f"smplerx_{_size}{_k}")(
            lambda s=_size, k=_k: _smplerx(s, k))
    register_train_preset(f"smplestx_{_size}40")(lambda s=_size: _smplestx(s))
for _tag in SPECIALISTS:
    register_train_preset(f"smplerx_ft_{_tag}")(lambda t=_tag: _specialist(t))
for _fam in ("smplerx", "smplestx"):
    register_train_preset(f"synthetic_{_fam}")(lambda f=_fam: _synthetic(f))
register_train_preset("synthetic_pose2d")(_synthetic_pose2d)
