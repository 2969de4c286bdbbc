"""Body models: ehps's own SMPL-X layer (:mod:`ehps.bodymodels.smplx`), its joint tables, file
discovery and I/O, a synthetic SMPL-X-format model for tests, the embedded Anny model, and the
registry of the body models ehps knows (:mod:`ehps.bodymodels.registry`). Submodules load on
first use (the registry is read by ``ehps --help`` without importing torch)."""

from __future__ import annotations

from ehps.utils.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "ehps.bodymodels.output": ["BodyModel", "BodyModelOutput"],
    "ehps.bodymodels.smplx": ["SMPLX", "load_smplx"],
})
