"""Typed configs: one strict loader (:mod:`ehps.config.loader`) shared by training and inference,
the inference tree (:class:`InferConfig`) and command-line flags generated from it
(:mod:`ehps.config.cli`). The training tree is :class:`ehps.training.TrainConfig`."""

from __future__ import annotations

from ehps.utils.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "ehps.geometry.constants": ["DEFAULT_BBOX_RATIO"],
    "ehps.config.infer": ["InferConfig", "InputConfig", "DetectionConfig", "EstimatorConfig",
                          "TrackingConfig", "SmoothingConfig", "OutputConfig"],
    "ehps.config.loader": ["build_config", "apply_overrides", "config_to_dict", "parse_dotted",
                           "load_yaml_overrides", "save_config"],
    "ehps.config.cli": ["add_config_flags", "config_from_args"],
})


