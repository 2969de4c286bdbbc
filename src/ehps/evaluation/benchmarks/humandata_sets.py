"""The benchmarks that are a HumanData test file and a few official rules (one
:class:`~ehps.evaluation.benchmarks.humandata_generic.HumanDataSpec` each); the evaluator is
:class:`~ehps.evaluation.benchmarks.humandata_generic.HumanDataEvaluator` for all of them.

- ``egobody``: EgoBody, EgoSet (egocentric test split), SMPLer-X protocol by default. Official:
  ``EgoBody_Egocentric`` test =
  ``preprocessed_datasets/egobody_egocentric_test_230425_043_fix_betas.npz``, images under
  ``EgoBody/``, fixed image size 1080 x 1920, every row (interval 1); the generic HumanData rules
  and the SMPLer-X block. SMPLest-X does not ship an EgoBody class; ``protocol="smplestx"`` applies
  its generic HumanData rules and block to the same file. Primary metric: ``mpvpe_all``.
- ``arctic``: ARCTIC (protocol p1, validation split as test), SMPLer-X protocol by default.
  Official SMPLer-X: ``preprocessed_datasets/p1_val.npz``, images under ``ARCTIC/``, every 10th
  row (``ARCTIC_test_sample_interval`` default 10), the generic HumanData rules and the SMPLer-X
  block. SMPLest-X (``protocol="smplestx"``; its ARCTIC class is not released, the rules below are
  those of its ``datasets/humandata.py``): the hand labels are stored with
  ``flat_hand_mean=True`` and get the SMPL-X mean hand subtracted, the GT betas are zeroed, and
  the provided ``vertices3d`` meshes (``vertices3d_path``, relative to the image folder) replace
  the SMPL-X ground truth when present; SMPLest-X block with the hand-outlier drop.
- ``renbody``: RenBody (high-resolution cameras, "RenBody_HiRes"), SMPLer-X protocol by default.
  Official SMPLer-X: ``preprocessed_datasets/renbody_test_highrescam_230517_78_0_fix_betas.npz``
  (only part 0 of the test split is read), images under ``RenBody/``, every 10th row
  (``RenBody_HiRes_test_sample_interval`` default 10), the generic HumanData rules and the
  SMPLer-X block. ``protocol="smplestx"`` applies SMPLest-X's generic HumanData rules and block.
- ``synhand``: SynHand (SMPLest-X's synthetic hand-centric benchmark), SMPLest-X protocol.
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

__all__ = ["ARCTICEvaluator", "EgoBodyEvaluator", "RenBodyEvaluator", "SynHandEvaluator",
           "humandata_benchmark"]


def humandata_benchmark(class_name: str, name: str, description: str, spec: HumanDataSpec,
                        protocols: tuple[str, ...] = ("smplerx", "smplestx"),
                        ) -> type[HumanDataEvaluator]:
    """Register (and return) the evaluator of one HumanData benchmark.

    Args:
        class_name: Python name of the evaluator class.
        name: benchmark name (``ehps eval --benchmark NAME``).
        description: one line for ``ehps eval --list``.
        spec: where the file lives and which official rules apply.
        protocols: accepted protocols, the first being the default.
    """
    cls = type(class_name, (HumanDataEvaluator,), {
        "__doc__": f"{description} (see :mod:`{__name__}`).", "__module__": __name__,
        "name": name, "description": description, "spec": spec, "protocols": protocols})
    register_benchmark(cls)
    return cls


EgoBodyEvaluator = humandata_benchmark(
    "EgoBodyEvaluator", "egobody", "EgoBody EgoSet (egocentric test), HumanData",
    HumanDataSpec("egobody_egocentric_test_230425_043_fix_betas.npz",
                  ("EgoBody", "img/egobody"), sample_interval=1, image_hw=(1080, 1920)))
ARCTICEvaluator = humandata_benchmark(
    "ARCTICEvaluator", "arctic", "ARCTIC p1 val, every 10th row, HumanData",
    HumanDataSpec("p1_val.npz", ("ARCTIC", "img/arctic"), sample_interval=10,
                  flat_hand_mean_labels=True, smplestx_zero_betas=True,
                  smplestx_vertices3d=True))
RenBodyEvaluator = humandata_benchmark(
    "RenBodyEvaluator", "renbody", "RenBody_HiRes test part 0, every 10th row, HumanData",
    HumanDataSpec("renbody_test_highrescam_230517_78_0_fix_betas.npz",
                  ("RenBody", "img/renbody"), sample_interval=10))
SynHandEvaluator = humandata_benchmark(
    "SynHandEvaluator", "synhand", "SynHand test (SMPLest-X), every 10th row, HumanData",
    HumanDataSpec("synhand_20241018_test_241023_1188_fix_betas.npz",
                  ("img/synbody", "SynHand"), sample_interval=10, flat_hand_mean_labels=True),
    protocols=("smplestx", "smplerx"))
