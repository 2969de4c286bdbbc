"""Inference: the :class:`Predictor` (detection, cropping, batching, un-cropping around a network
or the embedded estimator) and the ``ehps infer`` loop over images, folders and videos with
tracking (:mod:`~ehps.inference.tracking`), smoothing (:mod:`~ehps.inference.smoothing`) and
outputs (:mod:`~ehps.inference.writer`). Heavy modules load on first attribute access."""

from __future__ import annotations

from ehps.utils.lazy import lazy_getattr

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

__getattr__ = lazy_getattr(__name__, _LAZY)
