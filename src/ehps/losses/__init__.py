"""Training losses of SMPLer-X and SMPLest-X (official-spec c.1 / c.2).

Each loss takes the network :class:`~ehps.modeling.prediction.Prediction`, a collated
:class:`~ehps.data.types.Batch` and the (B, 144, 3) SMPL-X joints of the prediction (evaluated with
``transl = pred.cam_trans``) and returns named scalar terms plus ``"total"``.
"""

from __future__ import annotations

from ehps.losses.smplerx import SMPLerXLossWeights, smplerx_loss_terms, smplerx_losses
from ehps.losses.smplestx import SMPLestXLossWeights, smplestx_loss_terms, smplestx_losses

__all__ = [
    "SMPLerXLossWeights",
    "SMPLestXLossWeights",
    "smplerx_loss_terms",
    "smplerx_losses",
    "smplestx_loss_terms",
    "smplestx_losses",
]
