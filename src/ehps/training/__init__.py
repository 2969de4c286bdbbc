"""Training: typed configs and presets, the LightningModule / DataModule, atomic checkpoints with
exact resume, distributed launch (DDP / FSDP through Lightning), the synthetic data generator
(``ehps synth``) and pseudo-labelling (``ehps annotate``).

Typical use::

    from ehps.training import get_train_preset, apply_overrides, train
    cfg = get_train_preset("smplerx_h32")
    cfg = apply_overrides(cfg, {"data": {"root": "/data"},
                                "model": {"vitpose": "vitpose_huge.pth"}})
    result = train(cfg, out_dir="runs/h32")           # resume later: train(cfg, out, resume=True)

Submodules are imported lazily (Lightning is only needed once training starts).
"""

from __future__ import annotations

from ehps.utils.lazy import lazy_getattr

_LAZY = {
    "TrainConfig": "ehps.training.config",
    "ModelSection": "ehps.training.config",
    "DataSection": "ehps.training.config",
    "OptimSection": "ehps.training.config",
    "TrainerSection": "ehps.training.config",
    "CheckpointSection": "ehps.training.config",
    "apply_overrides": "ehps.training.config",
    "parse_dotted": "ehps.training.config",
    "load_yaml_overrides": "ehps.training.config",
    "config_to_dict": "ehps.training.config",
    "config_from_dict": "ehps.training.config",
    "get_train_preset": "ehps.training.presets",
    "list_train_presets": "ehps.training.presets",
    "register_train_preset": "ehps.training.presets",
    "EHPSModule": "ehps.training.module",
    "EHPSDataModule": "ehps.training.datamodule",
    "build_trainer": "ehps.training.launch",
    "train": "ehps.training.launch",
    "TrainResult": "ehps.training.launch",
    "plot_curves": "ehps.training.launch",
    "load_network_weights": "ehps.training.checkpointing",
    "SynthConfig": "ehps.training.synth",
    "generate_synthetic_dataset": "ehps.training.synth",
    "annotate_images": "ehps.training.annotate",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr(__name__, _LAZY)
