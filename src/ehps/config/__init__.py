"""Typed configs: one strict loader (:mod:`ehps.config.loader`) shared by training and inference,
the inference tree (:class:`InferConfig`) and command-line flags generated from it
(:mod:`ehps.config.cli`). The training tree is :class:`ehps.training.TrainConfig`."""

from __future__ import annotations

from ehps.utils.lazy import lazy_getattr

_LAZY = {
    "DEFAULT_BBOX_RATIO": "ehps.geometry.crop",
    "InferConfig": "ehps.config.infer",
    "InputConfig": "ehps.config.infer",
    "DetectionConfig": "ehps.config.infer",
    "EstimatorConfig": "ehps.config.infer",
    "TrackingConfig": "ehps.config.infer",
    "SmoothingConfig": "ehps.config.infer",
    "OutputConfig": "ehps.config.infer",
    "build_config": "ehps.config.loader",
    "apply_overrides": "ehps.config.loader",
    "config_to_dict": "ehps.config.loader",
    "parse_dotted": "ehps.config.loader",
    "load_yaml_overrides": "ehps.config.loader",
    "save_config": "ehps.config.loader",
    "add_config_flags": "ehps.config.cli",
    "config_from_args": "ehps.config.cli",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr(__name__, _LAZY)
