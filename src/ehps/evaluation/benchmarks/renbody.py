"""RenBody (high-resolution cameras, "RenBody_HiRes"), SMPLer-X protocol by default.

Official SMPLer-X: ``preprocessed_datasets/renbody_test_highrescam_230517_78_0_fix_betas.npz``
(only part 0 of the test split is read), images under ``RenBody/``, every 10th row
(``RenBody_HiRes_test_sample_interval`` default 10), the generic HumanData rules and the SMPLer-X
block. ``protocol="smplestx"`` applies SMPLest-X's generic HumanData rules and block.
"""

from __future__ import annotations

from ehps.evaluation.benchmarks.base import register_benchmark
from ehps.evaluation.benchmarks.humandata_generic import HumanDataEvaluator, HumanDataSpec

__all__ = ["RenBodyEvaluator"]


@register_benchmark
class RenBodyEvaluator(HumanDataEvaluator):
    """RenBody_HiRes test evaluator."""

    name = "renbody"
    description = "RenBody_HiRes test part 0, every 10th row, HumanData"
    spec = HumanDataSpec(
        annotation="renbody_test_highrescam_230517_78_0_fix_betas.npz",
        image_dirs=("RenBody", "img/renbody"),
        sample_interval=10,
    )
