"""Fitting: whole-body landmarks -> body-model parameters by optimisation.

The embedded default estimator (:class:`EmbeddedEstimator`: mediapipe's bundled landmark models +
this fitter, Anny by default, SMPL-X when its files are found) and the pseudo-label engine.
Submodules: :mod:`~ehps.fitting.landmarks` (correspondences), :mod:`~ehps.fitting.priors`,
:mod:`~ehps.fitting.adapters` (per-body-model variables), :mod:`~ehps.fitting.objective`,
:mod:`~ehps.fitting.optimizer` (batched L-BFGS), :mod:`~ehps.fitting.camera_init`,
:mod:`~ehps.fitting.fitter` (:func:`fit_people`), :mod:`~ehps.fitting.estimator`,
:mod:`~ehps.fitting.synthetic_eval`. In ``ehps infer`` the fit runs behind the estimator
protocol (:mod:`ehps.inference.fit_estimator`); the demo is :mod:`ehps.inference.demo`.
"""

from __future__ import annotations

from ehps.utils.lazy import lazy_getattr

_LAZY = {
    "fit_people": "ehps.fitting.fitter",
    "FitConfig": "ehps.fitting.fitter",
    "default_stages": "ehps.fitting.fitter",
    "EmbeddedEstimator": "ehps.fitting.estimator",
    "load_body_model": "ehps.fitting.estimator",
    "landmark_maps": "ehps.fitting.landmarks",
    "LossWeights": "ehps.fitting.objective",
    "Stage": "ehps.fitting.optimizer",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr(__name__, _LAZY)
