"""Per-sample numpy transcriptions of the official SMPLer-X evaluation formulas (loops, no
batching), used as the independent reference for the batched evaluators."""

from __future__ import annotations

import numpy as np


def rigid_align_np(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Official ``rigid_align``: similarity transform of ``a`` (N, 3) onto ``b``."""
    n = a.shape[0]
    ca, cb = a.mean(0), b.mean(0)
    h = (a - ca).T @ (b - cb) / n
    u, s, vt = np.linalg.svd(h)
    r = vt.T @ u.T
    if np.linalg.det(r) < 0:
        s = s.copy()
        s[-1] = -s[-1]
        vt = vt.copy()
        vt[2] = -vt[2]
        r = vt.T @ u.T
    c = s.sum() / np.var(a, axis=0).sum()
    t = cb - c * r @ ca
    return (c * r @ a.T).T + t


def _err(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    e = np.sqrt(((a - b) ** 2).sum(1))
    if mask is not None:
        if not mask.any():
            return float("nan")
        e = e[mask]
    return float(e.mean() * 1000)


def smplerx_reference(pred, gt, topo, vmask=None, bmask=None, hmasks=None) -> dict[str, float]:
    """The SMPLer-X metric block of one sample (EHF.py / UBody.py formulas)."""
    jreg = topo.j_regressor.numpy()
    j14 = topo.j14_regressor.numpy()
    hl, hr = topo.hand_regressors[0].numpy(), topo.hand_regressors[1].numpy()
    lids, rids = topo.left_hand_vertex_ids.numpy(), topo.right_hand_vertex_ids.numpy()
    fids = topo.face_vertex_ids.numpy()
    jp, jg = jreg @ pred, jreg @ gt
    out = {}
    out["mpvpe_all"] = _err(pred - jp[0] + jg[0], gt, vmask)
    out["pa_mpvpe_all"] = _err(rigid_align_np(pred, gt), gt, vmask)
    for s, ids, root in (("l", lids, 20), ("r", rids, 21)):
        m = None if vmask is None else vmask[ids]
        out[f"mpvpe_{s}_hand"] = _err(pred[ids] - jp[root] + jg[root], gt[ids], m)
        out[f"pa_mpvpe_{s}_hand"] = _err(rigid_align_np(pred[ids], gt[ids]), gt[ids], m)
    m = None if vmask is None else vmask[fids]
    out["mpvpe_face"] = _err(pred[fids] - jp[12] + jg[12], gt[fids], m)
    out["pa_mpvpe_face"] = _err(rigid_align_np(pred[fids], gt[fids]), gt[fids], m)
    out["pa_mpjpe_body"] = _err(rigid_align_np(j14 @ pred, j14 @ gt), j14 @ gt, bmask)
    for k, (s, reg) in enumerate((("l", hl), ("r", hr))):
        m = None if hmasks is None else hmasks[k]
        out[f"pa_mpjpe_{s}_hand"] = _err(rigid_align_np(reg @ pred, reg @ gt), reg @ gt, m)
    for kind in ("mpvpe", "pa_mpvpe", "pa_mpjpe"):
        vals = [v for v in (out[f"{kind}_l_hand"], out[f"{kind}_r_hand"]) if v == v]
        out[f"{kind}_hand"] = float(np.mean(vals)) if vals else float("nan")
    return out


def mean_over(values: list[dict[str, float]], key: str) -> float | None:
    """Mean of one key over samples, skipping NaN (None if nothing is left)."""
    v = [d[key] for d in values if d[key] == d[key]]
    return float(np.mean(v)) if v else None
