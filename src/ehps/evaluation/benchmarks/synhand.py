"""SynHand (SMPLest-X's synthetic hand-centric benchmark), SMPLest-X protocol.

Official SMPLest-X (``datasets/SynHand.py`` + ``datasets/humandata.py``):
``annot/synhand_20241018_test_241023_1188_fix_betas.npz``, images under ``img/synbody/``, every
10th row (``SynHand_test_sample_interval`` default 10); the hand labels are stored with
``flat_hand_mean=True`` and get the SMPL-X mean hand subtracted; betas truncated to 10
(``betas_neutral`` preferred); the SMPLest-X block, including its quirk of dropping hand
PA-MPJPE samples above 100 mm (a left hand above it also skips the right hand and the combined
value of that sample). The quirk is kept by default so numbers compare with the paper's; pass
``keep_hand_outliers=True`` (``ehps eval --keep-hand-outliers``) to keep every sample, and the
report says which was used.
"""

from __future__ import annotations

from ehps.evaluation.benchmarks.base import register_benchmark
from ehps.evaluation.benchmarks.humandata_generic import HumanDataEvaluator, HumanDataSpec

__all__ = ["SynHandEvaluator"]


@register_benchmark
class SynHandEvaluator(HumanDataEvaluator):
    """SynHand test evaluator (SMPLest-X protocol first)."""

    name = "synhand"
    protocols = ("smplestx", "smplerx")
    description = "SynHand test (SMPLest-X), every 10th row, HumanData"
    spec = HumanDataSpec(
        annotation="synhand_20241018_test_241023_1188_fix_betas.npz",
        image_dirs=("img/synbody", "SynHand"),
        sample_interval=10,
        flat_hand_mean_labels=True,
    )
