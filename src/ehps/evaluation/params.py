"""Ground-truth SMPL-X parameter records in the form the evaluators and the runner share:
unbatched float32 arrays keyed like :data:`ehps.evaluation.benchmarks.base.PARAM_SHAPES`
(``global_orient`` (3,), ``body_pose`` (21, 3), hands (15, 3) in the ``flat_hand_mean=False``
convention, ``jaw_pose`` (3,), ``betas`` (10,), ``expression`` (10,), ``cam_trans`` (3,) = the
translation added to the model-frame mesh).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["smplx_record", "zero_extreme_betas", "OFFICIAL_BETA_LIMIT"]

#: The official loaders replace a shape vector with the mean shape (zeros) when any |beta| > 3.
OFFICIAL_BETA_LIMIT = 3.0


def _fixed(value: Any, n: int) -> np.ndarray:
    """Flatten to ``n`` values: zeros for ``None``, truncated or zero-padded otherwise."""
    out = np.zeros(n, np.float32)
    if value is None:
        return out
    v = np.asarray(value, np.float32).reshape(-1)[:n]
    out[: v.size] = v
    return out


def smplx_record(
    global_orient: Any = None,
    body_pose: Any = None,
    left_hand_pose: Any = None,
    right_hand_pose: Any = None,
    jaw_pose: Any = None,
    betas: Any = None,
    expression: Any = None,
    transl: Any = None,
) -> dict[str, np.ndarray]:
    """A parameter record; ``None`` fields are zero (the official loaders zero missing hands /
    face), ``betas`` / ``expression`` keep their first 10 values (zero-padded), ``body_pose`` its
    first 21 joints (SMPL's 23 are cut as the official loaders do)."""
    return {
        "global_orient": _fixed(global_orient, 3),
        "body_pose": _fixed(body_pose, 63).reshape(21, 3),
        "left_hand_pose": _fixed(left_hand_pose, 45).reshape(15, 3),
        "right_hand_pose": _fixed(right_hand_pose, 45).reshape(15, 3),
        "jaw_pose": _fixed(jaw_pose, 3),
        "betas": _fixed(betas, 10),
        "expression": _fixed(expression, 10),
        "cam_trans": _fixed(transl, 3),
    }


def zero_extreme_betas(betas: Any, limit: float = OFFICIAL_BETA_LIMIT) -> Any:
    """``betas`` unchanged, or ``None`` (= zeros) when any value exceeds ``limit`` in magnitude:
    the official ``process_human_model_output`` does this to the shape it returns, which is what
    SMPLer-X builds its pseudo ground-truth meshes from."""
    if betas is None:
        return None
    return None if np.any(np.abs(np.asarray(betas, np.float64)) > limit) else betas
