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

from ehps.utils.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "ehps.training.config": ["TrainConfig", "ModelSection", "DataSection", "OptimSection",
                             "TrainerSection", "CheckpointSection", "apply_overrides",
                             "parse_dotted", "load_yaml_overrides", "config_to_dict",
                             "config_from_dict"],
    "ehps.training.presets": ["get_train_preset", "list_train_presets", "register_train_preset"],
    "ehps.training.module": ["EHPSModule"],
    "ehps.training.datamodule": ["EHPSDataModule"],
    "ehps.training.launch": ["build_trainer", "train", "TrainResult", "plot_curves"],
    "ehps.training.checkpointing": ["load_network_weights"],
    "ehps.training.synth": ["SynthConfig", "generate_synthetic_dataset"],
    "ehps.training.annotate": ["annotate_images"],
})


