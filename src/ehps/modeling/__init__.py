"""SMPLer-X and SMPLest-X networks: architectures, model zoo, official-checkpoint import and our
safetensors weight format.

Public entry points::

    from ehps.modeling import build_model, load_official_checkpoint, load_model
    model = build_model("smplerx_s32")                        # random init, training mode
    model = load_official_checkpoint("smpler_x_h32.pth.tar", variant="smplerx_h32")  # eval mode
    pred = model(images)                                      # images (B, 3, 512, 384) in [0, 1]
    pred.global_orient, pred.body_pose, pred.cam_trans, ...   # see Prediction

    convert_official_checkpoint("smplest_x_h.pth.tar", "smplestx_h.safetensors")
    model = load_model("smplestx_h.safetensors")              # architecture read from the file
"""

from __future__ import annotations

from ehps.modeling.checkpoint import (
    load_official_checkpoint,
    load_vitpose_backbone,
    save_vitpose_backbone,
)
from ehps.modeling.config import ModelConfig
from ehps.modeling.prediction import ROTATION_GROUPS, Prediction
from ehps.modeling.weights import convert_official_checkpoint, load_model, save_model
from ehps.modeling.zoo import build_model, get_config, list_models

__all__ = [
    "ModelConfig",
    "Prediction",
    "ROTATION_GROUPS",
    "build_model",
    "get_config",
    "list_models",
    "load_official_checkpoint",
    "load_vitpose_backbone",
    "save_vitpose_backbone",
    "load_model",
    "save_model",
    "convert_official_checkpoint",
]
