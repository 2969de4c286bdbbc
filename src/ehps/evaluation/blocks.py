"""The per-sample metric blocks of the official evaluations, batched.

Each block takes predicted and ground-truth meshes (B, V, 3) in metres (any common camera frame)
and returns per-sample values (B,) in mm under the official key names; NaN means "not counted for
this sample" (an invisible hand on UBody, a dropped outlier on SMPLest-X), and the evaluators
average with :func:`ehps.evaluation.metrics.nanmean_over_samples`.

- :func:`smplerx_block`: SMPLer-X ``EHF.py`` / ``AGORA.py`` / ``UBody.py`` / ``humandata.py``.
- :func:`smplestx_block`: SMPLest-X ``datasets/humandata.py`` (SMPL-X ground truth).
- :func:`pw3d_smplerx_block`, :func:`pw3d_smplestx_block`, :func:`pw3d_h36m_block`: the three
  3DPW protocols (SMPL ground truth; peers.md 5.2).
"""

from __future__ import annotations

import torch

from ehps.evaluation.alignment import root_align
from ehps.evaluation.metrics import (
    mean_error_mm,
    mean_of_sides_mm,
    mpvpe_mm,
    pa_mpjpe_mm,
    pa_mpvpe_mm,
)
from ehps.evaluation.regressors import (
    H36M_TO_J14,
    SMPLX_LSP14_FROM_55,
    SMPLXTopology,
    regress,
    smplx_to_smpl,
)

__all__ = [
    "SMPLERX_KEYS",
    "UBODY_KEYS",
    "AGORA_VAL_KEYS",
    "SMPLESTX_KEYS",
    "smplerx_block",
    "smplestx_block",
    "pw3d_smplerx_block",
    "pw3d_smplestx_block",
    "pw3d_h36m_block",
]

#: Report order of the SMPLer-X metric block (EHF, HumanData benchmarks).
SMPLERX_KEYS: tuple[str, ...] = (
    "pa_mpvpe_all", "pa_mpvpe_l_hand", "pa_mpvpe_r_hand", "pa_mpvpe_hand", "pa_mpvpe_face",
    "mpvpe_all", "mpvpe_l_hand", "mpvpe_r_hand", "mpvpe_hand", "mpvpe_face",
    "pa_mpjpe_body", "pa_mpjpe_l_hand", "pa_mpjpe_r_hand", "pa_mpjpe_hand",
)  # fmt: skip
#: UBody reports no per-side values.
UBODY_KEYS: tuple[str, ...] = (
    "pa_mpvpe_all", "pa_mpvpe_hand", "pa_mpvpe_face", "mpvpe_all", "mpvpe_hand", "mpvpe_face",
    "pa_mpjpe_body", "pa_mpjpe_hand",
)  # fmt: skip
#: AGORA-val (SMPLer-X) reports the vertex errors only.
AGORA_VAL_KEYS: tuple[str, ...] = SMPLERX_KEYS[:10]
#: SMPLest-X adds root-aligned MPJPE for body and hands.
SMPLESTX_KEYS: tuple[str, ...] = SMPLERX_KEYS + (
    "mpjpe_body", "mpjpe_l_hand", "mpjpe_r_hand", "mpjpe_hand",
)


def _masked(mask: torch.Tensor | None, ids: torch.Tensor) -> torch.Tensor | None:
    return None if mask is None else mask[:, ids]


def smplerx_block(
    pred_verts: torch.Tensor,
    gt_verts: torch.Tensor,
    topo: SMPLXTopology,
    vertex_mask: torch.Tensor | None = None,
    body_joint_mask: torch.Tensor | None = None,
    hand_joint_masks: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """The SMPLer-X block.

    - ``mpvpe_all``: all vertices after moving the predicted ``J_regressor`` pelvis onto the GT
      pelvis; ``mpvpe_{l,r}_hand``: MANO vertices after moving the predicted wrist (rows 20 / 21)
      onto the GT wrist; ``mpvpe_face``: FLAME vertices, neck (row 12) aligned.
    - ``pa_*``: similarity Procrustes fitted on the very points that are scored.
    - ``pa_mpjpe_body``: the 14 ``SMPLX_to_J14`` joints; ``pa_mpjpe_{l,r}_hand``: the 21-joint hand
      regressors. ``*_hand`` = mean of the two sides (of the counted sides, with masks).

    Args:
        pred_verts, gt_verts: (B, V, 3) metres.
        topo: the SMPL-X evaluation topology.
        vertex_mask: (B, V) bool, UBody's in-image vertices (None = all).
        body_joint_mask: (B, 14) bool, in-image J14 joints.
        hand_joint_masks: ((B, 21), (B, 21)) bool, in-image hand joints (left, right).
    """
    pj, gj = topo.joints55(pred_verts), topo.joints55(gt_verts)
    out: dict[str, torch.Tensor] = {
        "mpvpe_all": mpvpe_mm(pred_verts, gt_verts, pj[:, topo.pelvis], gj[:, topo.pelvis],
                              vertex_mask),
        "pa_mpvpe_all": pa_mpvpe_mm(pred_verts, gt_verts, vertex_mask),
    }
    for side, ids, root in (
        ("l", topo.left_hand_vertex_ids, topo.left_wrist),
        ("r", topo.right_hand_vertex_ids, topo.right_wrist),
    ):
        p, g, m = pred_verts[:, ids], gt_verts[:, ids], _masked(vertex_mask, ids)
        out[f"mpvpe_{side}_hand"] = mpvpe_mm(p, g, pj[:, root], gj[:, root], m)
        out[f"pa_mpvpe_{side}_hand"] = pa_mpvpe_mm(p, g, m)
    ids = topo.face_vertex_ids
    p, g, m = pred_verts[:, ids], gt_verts[:, ids], _masked(vertex_mask, ids)
    out["mpvpe_face"] = mpvpe_mm(p, g, pj[:, topo.neck], gj[:, topo.neck], m)
    out["pa_mpvpe_face"] = pa_mpvpe_mm(p, g, m)
    out["pa_mpjpe_body"] = pa_mpjpe_mm(topo.j14(pred_verts), topo.j14(gt_verts), body_joint_mask)
    for k, side in enumerate(("left", "right")):
        m = None if hand_joint_masks is None else hand_joint_masks[k]
        out[f"pa_mpjpe_{side[0]}_hand"] = pa_mpjpe_mm(
            topo.hand21(pred_verts, side), topo.hand21(gt_verts, side), m
        )
    for kind in ("mpvpe", "pa_mpvpe", "pa_mpjpe"):
        out[f"{kind}_hand"] = mean_of_sides_mm(out[f"{kind}_l_hand"], out[f"{kind}_r_hand"])
    return {k: out[k] for k in SMPLERX_KEYS}


def smplestx_block(
    pred_verts: torch.Tensor,
    gt_verts: torch.Tensor,
    topo: SMPLXTopology,
    lhand_valid: torch.Tensor | None = None,
    rhand_valid: torch.Tensor | None = None,
    hand_outlier_mm: float | None = 100.0,
) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """The SMPLest-X block (SMPL-X ground truth).

    Differences from :func:`smplerx_block` (official ``datasets/humandata.py``):

    - hand vertices and joints are made wrist-relative on both sides (same numbers as wrist
      alignment for vertices); hands without ground truth (``*_valid`` False) are not counted
      and ``*_hand`` is the validity-weighted mean of the sides;
    - adds ``mpjpe_body`` (J14 joints of the pelvis-aligned mesh) and ``mpjpe_{l,r}_hand`` (the 20
      finger joints of the hand regressor, wrist-relative);
    - **outlier quirk** (``hand_outlier_mm``, official value 100): per sample, a left-hand PA-MPJPE
      above the threshold is dropped *and* the right hand's and the combined hand PA-MPJPE of that
      sample are skipped; a right hand above it is dropped with the combined value. Values equal
      to the threshold are neither kept nor cause a skip (as ``< 100`` / ``> 100`` in the
      official code). ``None`` keeps every value.

    Deliberate difference: the official hand MPJPE subtracts the wrist from the prediction only,
    so its ``mpjpe_*_hand`` contains the ground truth's absolute wrist position (a bug); here both
    sides are wrist-relative. The PA values are unaffected (PA removes translation).

    Returns:
        ``(values, counts)``: values keyed by :data:`SMPLESTX_KEYS`; counts of dropped outliers
        (``dropped_pa_mpjpe_l_hand``, ``dropped_pa_mpjpe_r_hand``).
    """
    b = pred_verts.shape[0]
    ones = torch.ones(b, dtype=torch.bool, device=pred_verts.device)
    lv = ones if lhand_valid is None else lhand_valid.to(torch.bool)
    rv = ones if rhand_valid is None else rhand_valid.to(torch.bool)
    pj, gj = topo.joints55(pred_verts), topo.joints55(gt_verts)
    out: dict[str, torch.Tensor] = {
        "mpvpe_all": mpvpe_mm(pred_verts, gt_verts, pj[:, topo.pelvis], gj[:, topo.pelvis]),
        "pa_mpvpe_all": pa_mpvpe_mm(pred_verts, gt_verts),
    }
    nan = torch.full((b,), torch.nan, dtype=torch.float64, device=pred_verts.device)
    sides = {"l": (topo.left_hand_vertex_ids, topo.left_wrist, lv, "left"),
             "r": (topo.right_hand_vertex_ids, topo.right_wrist, rv, "right")}  # fmt: skip
    pa_joint: dict[str, torch.Tensor] = {}
    for s, (ids, root, valid, side) in sides.items():
        p, g = pred_verts[:, ids], gt_verts[:, ids]
        out[f"mpvpe_{s}_hand"] = torch.where(valid, mpvpe_mm(p, g, pj[:, root], gj[:, root]), nan)
        out[f"pa_mpvpe_{s}_hand"] = torch.where(valid, pa_mpvpe_mm(p, g), nan)
        ph, gh = topo.hand21(pred_verts, side), topo.hand21(gt_verts, side)
        ph_rel = ph[:, 1:] - pj[:, root, None]
        gh_rel = gh[:, 1:] - gj[:, root, None]
        out[f"mpjpe_{s}_hand"] = torch.where(valid, mean_error_mm(ph_rel, gh_rel), nan)
        pa_joint[s] = pa_mpjpe_mm(ph_rel, gh_rel)
    w_l, w_r = lv.to(torch.float64), rv.to(torch.float64)

    def weighted(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        num = torch.nan_to_num(left) * w_l + torch.nan_to_num(right) * w_r
        return torch.where(w_l + w_r > 0, num / (w_l + w_r).clamp(min=1), nan)

    for kind in ("mpvpe", "pa_mpvpe", "mpjpe"):
        out[f"{kind}_hand"] = weighted(out[f"{kind}_l_hand"], out[f"{kind}_r_hand"])
    ids = topo.face_vertex_ids
    out["mpvpe_face"] = mpvpe_mm(pred_verts[:, ids], gt_verts[:, ids], pj[:, topo.neck],
                                 gj[:, topo.neck])
    out["pa_mpvpe_face"] = pa_mpvpe_mm(pred_verts[:, ids], gt_verts[:, ids])
    aligned = root_align(pred_verts, pj[:, topo.pelvis], gj[:, topo.pelvis])
    gt14 = topo.j14(gt_verts)
    out["mpjpe_body"] = mean_error_mm(topo.j14(aligned), gt14)
    out["pa_mpjpe_body"] = pa_mpjpe_mm(topo.j14(pred_verts), gt14)
    pl, pr = pa_joint["l"], pa_joint["r"]
    if hand_outlier_mm is None:
        keep_l, keep_r = lv, rv
        skip_l = skip_r = torch.zeros_like(lv)
    else:
        thr = float(hand_outlier_mm)
        keep_l, skip_l = lv & (pl < thr), lv & (pl > thr)
        reach_r = ~skip_l
        keep_r, skip_r = reach_r & rv & (pr < thr), reach_r & rv & (pr > thr)
    out["pa_mpjpe_l_hand"] = torch.where(keep_l, pl, nan)
    out["pa_mpjpe_r_hand"] = torch.where(keep_r, pr, nan)
    both = weighted(torch.where(lv, pl, nan), torch.where(rv, pr, nan))
    out["pa_mpjpe_hand"] = torch.where(~skip_l & ~skip_r, both, nan)
    counts = {
        "dropped_pa_mpjpe_l_hand": int(skip_l.sum()),
        "dropped_pa_mpjpe_r_hand": int(skip_r.sum()),
    }
    return {k: out[k] for k in SMPLESTX_KEYS}, counts


def _lsp14(joints: torch.Tensor) -> torch.Tensor:
    return joints[:, list(SMPLX_LSP14_FROM_55)]


def pw3d_smplerx_block(
    pred_verts: torch.Tensor,
    gt_smpl_verts: torch.Tensor,
    topo: SMPLXTopology,
    smpl_j_regressor: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """3DPW, SMPLer-X protocol (``data/PW3D/PW3D.py``).

    GT joints = SMPL ``J_regressor`` on the GT SMPL mesh; predicted joints = SMPL-X
    ``J_regressor`` on the predicted SMPL-X mesh; both read at the 14 rows
    :data:`~ehps.evaluation.regressors.SMPLX_LSP14_FROM_55`. ``mpjpe_body``: the predicted mesh is
    moved so that its SMPL-X pelvis lies on the GT SMPL root joint; ``pa_mpjpe_body``: Procrustes on
    the 14 joints.
    """
    gj = regress(smpl_j_regressor, gt_smpl_verts.to(torch.float64))
    pj = topo.joints55(pred_verts.to(torch.float64))
    aligned = root_align(pred_verts, pj[:, 0], gj[:, 0])
    pj_aligned = topo.joints55(aligned)
    return {
        "mpjpe_body": mean_error_mm(_lsp14(pj_aligned), _lsp14(gj)),
        "pa_mpjpe_body": pa_mpjpe_mm(_lsp14(pj), _lsp14(gj)),
    }


def pw3d_smplestx_block(
    pred_verts: torch.Tensor,
    gt_smpl_verts: torch.Tensor,
    topo: SMPLXTopology,
    smpl_j_regressor: torch.Tensor,
    smplx_to_smpl_matrix: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """3DPW, SMPLest-X protocol (``datasets/humandata.py``, 6890-vertex ground truth).

    The predicted SMPL-X mesh is first moved so that its SMPL-X pelvis lies on the GT SMPL root
    joint, then mapped to SMPL topology with ``smplx2smpl``. ``mpvpe_all`` / ``pa_mpvpe_all``: all
    6890 SMPL vertices (PA on all of them); ``mpjpe_body`` / ``pa_mpjpe_body``: the SMPL
    ``J_regressor`` applied to both SMPL meshes, 14 joints.
    """
    gt = gt_smpl_verts.to(torch.float64)
    gj = regress(smpl_j_regressor, gt)
    pj = topo.joints55(pred_verts.to(torch.float64))
    aligned = root_align(pred_verts, pj[:, 0], gj[:, 0])
    pred_smpl = smplx_to_smpl(smplx_to_smpl_matrix, aligned)
    pjs = regress(smpl_j_regressor, pred_smpl)
    return {
        "mpvpe_all": mean_error_mm(pred_smpl, gt),
        "pa_mpvpe_all": pa_mpvpe_mm(pred_smpl, gt),
        "mpjpe_body": mean_error_mm(_lsp14(pjs), _lsp14(gj)),
        "pa_mpjpe_body": pa_mpjpe_mm(_lsp14(pjs), _lsp14(gj)),
    }


def pw3d_h36m_block(
    pred_verts: torch.Tensor,
    gt_smpl_verts: torch.Tensor,
    smplx_to_smpl_matrix: torch.Tensor,
    h36m_regressor: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """3DPW, community protocol (SPIN, HMR 2.0, Multi-HMR...): the predicted SMPL-X mesh mapped to
    SMPL topology; 14 LSP joints from ``J_regressor_h36m`` (:data:`H36M_TO_J14`); both skeletons
    centred on their own mid-hip (mean of LSP joints 2 and 3). ``mpjpe_body`` and
    ``pa_mpjpe_body`` on the 14 joints, ``mpvpe_all`` on the 6890 SMPL vertices with the same
    mid-hip centring.
    """
    gt = gt_smpl_verts.to(torch.float64)
    pred_smpl = smplx_to_smpl(smplx_to_smpl_matrix, pred_verts.to(torch.float64))
    rows = list(H36M_TO_J14)
    gj = regress(h36m_regressor, gt)[:, rows]
    pj = regress(h36m_regressor, pred_smpl)[:, rows]
    g_hip = (gj[:, 2] + gj[:, 3]) / 2
    p_hip = (pj[:, 2] + pj[:, 3]) / 2
    return {
        "mpjpe_body": mpvpe_mm(pj, gj, p_hip, g_hip),
        "pa_mpjpe_body": pa_mpjpe_mm(pj, gj),
        "mpvpe_all": mpvpe_mm(pred_smpl, gt, p_hip, g_hip),
    }
