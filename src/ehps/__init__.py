"""ehps: expressive human pose and shape estimation (SMPLer-X, SMPLest-X) as a tested toolkit.

The top-level namespace is kept light: heavy submodules are imported on first attribute access,
so ``import ehps`` costs little and never touches optional back-ends.
"""

from __future__ import annotations

from ehps.utils.lazy import lazy_getattr

__version__ = "0.1.0"

_LAZY = {
    "build_model": "ehps.modeling",
    "load_model": "ehps.modeling",
    "load_official_checkpoint": "ehps.modeling",
    "Predictor": "ehps.inference",
}

__all__ = ["__version__", *_LAZY]

__getattr__ = lazy_getattr(__name__, _LAZY)
