"""Inference: one stage loop (:mod:`~ehps.inference.loop`: decode -> detect -> track -> estimate
-> smooth -> pose -> render -> write) behind two faces, :class:`Predictor` (Python, in memory)
and :func:`run_inference` (``ehps infer``: files, videos, resume). Estimators plug in through one
protocol (:mod:`~ehps.inference.estimators`). Heavy modules load on first attribute access."""

from __future__ import annotations

from ehps.utils.lazy import lazy_getattr

_LAZY = {
    "Predictor": "ehps.inference.predictor",
    "run_inference": "ehps.inference.runner",
    "InferReport": "ehps.inference.runner",
    "ProgressEvent": "ehps.inference.runner",
    "Estimator": "ehps.inference.estimators",
    "PersonInput": "ehps.inference.estimators",
    "TrackContext": "ehps.inference.estimators",
    "InferConfig": "ehps.config.infer",
    "SmoothingConfig": "ehps.config.infer",
    "IoUTracker": "ehps.inference.tracking",
    "ParamSmoother": "ehps.inference.smoothing",
    "mean_acceleration": "ehps.inference.smoothing",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr(__name__, _LAZY)
