"""Inference: one stage loop (:mod:`~ehps.inference.loop`: decode -> detect -> track -> estimate
-> smooth -> pose -> render -> write) behind two faces, :class:`Predictor` (Python, in memory)
and :func:`run_inference` (``ehps infer``: files, videos, resume). Estimators plug in through one
protocol (:mod:`~ehps.inference.estimators`). Heavy modules load on first attribute access."""

from __future__ import annotations

from ehps.utils.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "ehps.inference.predictor": ["Predictor"],
    "ehps.inference.runner": ["run_inference", "InferReport", "ProgressEvent"],
    "ehps.inference.estimators": ["Estimator", "PersonInput", "TrackContext"],
    "ehps.config.infer": ["InferConfig", "SmoothingConfig"],
    "ehps.inference.tracking": ["IoUTracker"],
    "ehps.inference.smoothing": ["ParamSmoother", "mean_acceleration"],
})


