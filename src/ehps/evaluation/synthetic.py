"""Synthetic stand-ins for the SMPL-side evaluation files, so that the SMPL-ground-truth protocols
run without licensed models: ``SMPL_{NEUTRAL,MALE,FEMALE}.pkl``, ``smplx2smpl.pkl`` and
``J_regressor_h36m.npy``.

They are *derived* from an SMPL-X model (the synthetic one of
:mod:`ehps.bodymodels.synthetic` in the tests) so that the two models agree exactly where they
can: the SMPL mesh is a fixed selection S of 6890 SMPL-X vertices, and ``smplx2smpl`` is the
matching one-hot (6890, 10475) map. For every SMPL pose with the SMPL-X hands, jaw and eyes at the
identity rotation (hand pose = -mean hand with ``flat_hand_mean=False``) and zero expression,

    SMPL(pose, betas) == smplx2smpl @ SMPL-X(pose, betas)      (to float rounding)

because (1) a joint whose rotation is the identity has the same skinning transform as its parent,
so SMPL-X skinning weights of fingers / jaw / eyes are folded onto the wrists / head; (2) the
pose correctives of those joints vanish; (3) S contains every vertex that SMPL-X's
``J_regressor`` rows 0-21 read, so SMPL's regressor (those rows restricted to S) returns the same
body joints, in the rest pose and on posed meshes. The SMPL hand joints 22 / 23 sit on the wrists
and skin no vertex. This is what lets an "oracle" prediction score exactly 0 on SMPL benchmarks.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from ehps.bodymodels.io import load_smplx_data
from ehps.utils.io import atomic_open

__all__ = [
    "SMPL_PARENTS",
    "smpl_vertex_selection",
    "smpl_from_smplx",
    "write_synthetic_smpl_files",
]

#: (24,) the SMPL kinematic tree.
SMPL_PARENTS = np.array(
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
)
_NUM_SMPL_VERTICES = 6890


def _body_ancestor(j: int) -> int:
    """SMPL-X skeleton joint -> the SMPL joint its skinning weight folds onto."""
    if j <= 21:
        return j
    if j in (22, 23, 24):  # jaw, eyes -> head
        return 15
    return 20 if j < 40 else 21  # left / right fingers -> wrists


def smpl_vertex_selection(j_regressor: np.ndarray, seed: int = 0) -> np.ndarray:
    """(6890,) sorted SMPL-X vertex ids: every vertex read by ``J_regressor`` rows 0-21, then a
    seeded random choice of the others."""
    n_v = j_regressor.shape[1]
    support = np.flatnonzero(np.abs(j_regressor[:22]).sum(axis=0) > 0)
    if support.size > _NUM_SMPL_VERTICES:
        raise ValueError(f"the body joint regressor reads {support.size} > 6890 vertices")
    rest = np.setdiff1d(np.arange(n_v), support)
    rng = np.random.default_rng(seed)
    extra = rng.choice(rest, _NUM_SMPL_VERTICES - support.size, replace=False)
    return np.sort(np.concatenate([support, extra]))


def smpl_from_smplx(smplx_data: dict[str, np.ndarray], selection: np.ndarray) -> dict:
    """SMPL model arrays (the official ``.pkl`` keys) derived from SMPL-X arrays.

    Args:
        smplx_data: :func:`ehps.bodymodels.io.load_smplx_data` output (10-beta v1.0 layout or
            v1.1; the first 10 shape columns are used).
        selection: (6890,) SMPL-X vertex ids (:func:`smpl_vertex_selection`).
    """
    import scipy.sparse

    s = np.asarray(selection)
    jreg_x = np.asarray(smplx_data["J_regressor"], np.float64)
    w_x = np.asarray(smplx_data["weights"], np.float64)[s]
    weights = np.zeros((s.size, 24))
    for j in range(w_x.shape[1]):
        weights[:, _body_ancestor(j)] += w_x[:, j]
    posedirs_x = np.asarray(smplx_data["posedirs"], np.float64).reshape(jreg_x.shape[1], 3, -1)
    posedirs = np.zeros((s.size, 3, 207))
    posedirs[:, :, : 21 * 9] = posedirs_x[s, :, : 21 * 9]
    jreg = np.concatenate([jreg_x[:22], jreg_x[[20, 21]]], axis=0)[:, s]
    shapedirs = np.asarray(smplx_data["shapedirs"], np.float64).reshape(jreg_x.shape[1], 3, -1)
    # faces: keep triangles whose three corners are selected, re-indexed
    remap = -np.ones(jreg_x.shape[1], np.int64)
    remap[s] = np.arange(s.size)
    f = remap[np.asarray(smplx_data["f"]).astype(np.int64)]
    f = f[(f >= 0).all(axis=1)]
    kintree = np.stack([np.where(SMPL_PARENTS < 0, 2**32 - 1, SMPL_PARENTS), np.arange(24)])
    return {
        "v_template": np.asarray(smplx_data["v_template"], np.float64)[s],
        "shapedirs": shapedirs[s, :, :10].astype(np.float32),
        "posedirs": posedirs.astype(np.float32),
        "J_regressor": scipy.sparse.csc_matrix(jreg),
        "weights": weights,
        "kintree_table": kintree.astype(np.int64),
        "f": f.astype(np.uint32),
    }


def _h36m_regressor(v_template: np.ndarray, seed: int) -> np.ndarray:
    """(17, 6890) rows that average the 12 template vertices nearest to a random vertex each."""
    rng = np.random.default_rng(seed)
    reg = np.zeros((17, v_template.shape[0]))
    centres = rng.choice(v_template.shape[0], 17, replace=False)
    for r, c in enumerate(centres):
        d = np.linalg.norm(v_template - v_template[c], axis=1)
        near = np.argsort(d)[:12]
        reg[r, near] = rng.dirichlet(np.ones(12))
    return reg


def _dump(path: Path, obj: object) -> None:
    with atomic_open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)


def write_synthetic_smpl_files(
    out_dir: str | os.PathLike[str], smplx_dir: str | os.PathLike[str], seed: int = 0
) -> dict[str, Path]:
    """Write ``<out_dir>/smpl/SMPL_<GENDER>.pkl`` (one per ``SMPLX_<GENDER>.npz`` found in
    ``smplx_dir``), ``<out_dir>/smplx2smpl.pkl`` (``{'matrix': scipy.sparse.csr_matrix}``) and
    ``<out_dir>/J_regressor_h36m.npy`` (17, 6890) float64.

    Returns:
        Paths by name: ``smpl_dir``, ``smplx2smpl``, ``h36m_regressor`` and ``SMPL_<GENDER>``.
    """
    import scipy.sparse

    out = Path(out_dir)
    sdir = Path(smplx_dir)
    neutral = load_smplx_data(sdir / "SMPLX_NEUTRAL.npz")
    sel = smpl_vertex_selection(np.asarray(neutral["J_regressor"]), seed)
    paths: dict[str, Path] = {"smpl_dir": out / "smpl"}
    for gender in ("NEUTRAL", "MALE", "FEMALE"):
        src = sdir / f"SMPLX_{gender}.npz"
        if not src.is_file():
            continue
        data = neutral if gender == "NEUTRAL" else load_smplx_data(src)
        p = out / "smpl" / f"SMPL_{gender}.pkl"
        _dump(p, smpl_from_smplx(data, sel))
        paths[f"SMPL_{gender}"] = p
    n_x = int(np.asarray(neutral["v_template"]).shape[0])
    mat = scipy.sparse.csr_matrix(
        (np.ones(sel.size), (np.arange(sel.size), sel)), shape=(sel.size, n_x)
    )
    paths["smplx2smpl"] = out / "smplx2smpl.pkl"
    _dump(paths["smplx2smpl"], {"matrix": mat})
    paths["h36m_regressor"] = out / "J_regressor_h36m.npy"
    with atomic_open(paths["h36m_regressor"], "wb") as fh:
        np.save(fh, _h36m_regressor(np.asarray(neutral["v_template"])[sel], seed),
                allow_pickle=False)
    return paths
