"""ARCTIC (protocol p1, validation split as test), SMPLer-X protocol by default.

Official SMPLer-X: ``preprocessed_datasets/p1_val.npz``, images under ``ARCTIC/``, every 10th row
(``ARCTIC_test_sample_interval`` default 10), the generic HumanData rules and the SMPLer-X block.
SMPLest-X (``protocol="smplestx"``; its ARCTIC class is not released, the rules below are those of
its ``datasets/humandata.py``): the hand labels are stored with ``flat_hand_mean=True`` and get the
SMPL-X mean hand subtracted, the GT betas are zeroed, and the provided ``vertices3d`` meshes
(``vertices3d_path``, relative to the image folder) replace the SMPL-X ground truth when present;
SMPLest-X block with the hand-outlier drop.
"""

from __future__ import annotations

from ehps.evaluation.benchmarks.base import register_benchmark
from ehps.evaluation.benchmarks.humandata_generic import HumanDataEvaluator, HumanDataSpec

__all__ = ["ARCTICEvaluator"]


@register_benchmark
class ARCTICEvaluator(HumanDataEvaluator):
    """ARCTIC p1 validation evaluator."""

    name = "arctic"
    description = "ARCTIC p1 val, every 10th row, HumanData"
    spec = HumanDataSpec(
        annotation="p1_val.npz",
        image_dirs=("ARCTIC", "img/arctic"),
        sample_interval=10,
        flat_hand_mean_labels=True,
        smplestx_zero_betas=True,
        smplestx_vertices3d=True,
    )
