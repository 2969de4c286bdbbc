"""Body models: ehps's own SMPL-X layer (:mod:`ehps.bodymodels.smplx`), its joint tables, file
discovery and I/O, a synthetic SMPL-X-format model for tests, and the embedded Anny model."""

from __future__ import annotations

from ehps.bodymodels.output import BodyModel, BodyModelOutput
from ehps.bodymodels.smplx import SMPLX, load_smplx

__all__ = ["BodyModel", "BodyModelOutput", "SMPLX", "load_smplx"]
