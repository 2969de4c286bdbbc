"""Helpers of the training tests (imported by name: pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

from pathlib import Path

#: Very small networks (fast on two CPU cores).
TINY = {
    "smplerx": {"embed_dim": 32, "depth": 1, "num_heads": 2, "head_dim": 16, "box_dim": 8},
    "smplestx": {"embed_dim": 32, "depth": 1, "num_heads": 2, "decoder_depth": 1,
                 "decoder_heads": 2, "decoder_head_dim": 8, "decoder_dim_out": 16},
}


def tiny_config(family: str, root: Path, smplx_dir: Path, **sections):
    """A tiny synthetic-data config (no augmentation, batch 2, no validation unless asked)."""
    from ehps.training import apply_overrides, get_train_preset

    cfg = get_train_preset(f"synthetic_{family}")
    base = {
        # plain initialisation: the tests check the training machinery, not the recipe
        # the official patchify stem: the preset's conv stem has BatchNorm, whose per-process
        # statistics would break the 1-process = 2-process equalities of the distributed tests
        "model": {"smplx_dir": str(smplx_dir), "overrides": {**TINY[family], "stem": "patch"},
                  "head_init": "official", "stem_init": "official"},
        "data": {"root": str(root), "humandata": ["annotations/train.npz"], "batch_size": 2,
                 "num_workers": 0, "augment": False, "image_uint8": True},
        "optim": {"lr": 1e-3, "min_lr": 1e-4, "max_steps": 6, "epochs": 100},
        "trainer": {"accelerator": "cpu", "devices": 1, "val_every_n_steps": None,
                    "log_every_n_steps": 1, "threads": None},
        "checkpoint": {"every_n_steps": 0, "save_last": False, "export_safetensors": False},
    }
    cfg = apply_overrides(cfg, base)
    for key, value in sections.items():
        cfg = apply_overrides(cfg, {key: value})
    return cfg
