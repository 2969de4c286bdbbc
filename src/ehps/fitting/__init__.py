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

from ehps.utils.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "ehps.fitting.fitter": ["fit_people", "FitConfig", "default_stages"],
    "ehps.fitting.estimator": ["EmbeddedEstimator", "load_body_model"],
    "ehps.fitting.landmarks": ["landmark_maps"],
    "ehps.fitting.objective": ["LossWeights"],
    "ehps.fitting.optimizer": ["Stage"],
})


