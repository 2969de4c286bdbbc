"""``ehps serve``: a local web app on the ``ehps infer`` pipeline.

Upload a photo or a video in the page, follow the progress, then look at the overlay and the 3D
people (three.js, served by ehps itself) and download the results. Jobs run in worker processes
(:mod:`~ehps.serve.worker`) behind one bounded queue (:mod:`~ehps.serve.jobs`); uploads are
judged by content and checked against limits (:mod:`~ehps.serve.probe`); the pipeline is called
in one place (:mod:`~ehps.serve.adapter`). Needs the ``serve`` extra (FastAPI, uvicorn).
"""

from __future__ import annotations

from ehps.utils.lazy import lazy_getattr

_LAZY = {
    "ServeConfig": "ehps.serve.config",
    "EstimatorChoice": "ehps.serve.config",
    "discover_estimators": "ehps.serve.config",
    "create_app": "ehps.serve.app",
    "JobManager": "ehps.serve.jobs",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr(__name__, _LAZY)
