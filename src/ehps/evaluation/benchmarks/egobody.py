"""EgoBody, EgoSet (egocentric test split), SMPLer-X protocol by default.

Official: ``EgoBody_Egocentric`` test =
``preprocessed_datasets/egobody_egocentric_test_230425_043_fix_betas.npz``, images under
``EgoBody/``, fixed image size 1080 x 1920, every row (interval 1); the generic HumanData rules and
the SMPLer-X block (:mod:`ehps.evaluation.benchmarks.humandata_generic`). SMPLest-X does not ship
an EgoBody class; ``protocol="smplestx"`` applies its generic HumanData rules and block to the same
file. Primary metric: ``mpvpe_all``.
"""

from __future__ import annotations

from ehps.evaluation.benchmarks.base import register_benchmark
from ehps.evaluation.benchmarks.humandata_generic import HumanDataEvaluator, HumanDataSpec

__all__ = ["EgoBodyEvaluator"]


@register_benchmark
class EgoBodyEvaluator(HumanDataEvaluator):
    """EgoBody EgoSet test evaluator."""

    name = "egobody"
    description = "EgoBody EgoSet (egocentric test), HumanData"
    spec = HumanDataSpec(
        annotation="egobody_egocentric_test_230425_043_fix_betas.npz",
        image_dirs=("EgoBody", "img/egobody"),
        sample_interval=1,
        image_hw=(1080, 1920),
    )
