"""Inference: the :class:`Predictor` (detection, cropping, batching, un-cropping around a network
or the embedded estimator) and the ``ehps infer`` loop over images, folders and videos with
tracking (:mod:`~ehps.inference.tracking`), smoothing (:mod:`~ehps.inference.smoothing`) and
outputs (:mod:`~ehps.inference.writer`). Heavy modules load on first attribute access."""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Predictor": "ehps.inference.predictor",
    "InferConfig": "ehps.inference.runner",
    "InferReport": "ehps.inference.runner",
    "run_inference": "ehps.inference.runner",
    "SmoothingConfig": "ehps.inference.pipeline",
    "IoUTracker": "ehps.inference.tracking",
    "ParamSmoother": "ehps.inference.smoothing",
    "mean_acceleration": "ehps.inference.smoothing",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ehps.inference' has no attribute {name!r}")
