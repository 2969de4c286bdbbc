"""The fixed linear maps the benchmarks evaluate with: SMPL-X joint regressors and vertex subsets,
the SMPL-X -> SMPL vertex conversion and the H36M joint regressor.

- :class:`SMPLXTopology` bundles what the official ``human_models.SMPLX`` helper loads for
  evaluation (official-spec a.6/a.7): the 55-joint ``J_regressor`` of the neutral SMPL-X model
  (alignment roots: pelvis 0, wrists 20/21, neck 12), the 14 LSP joints of ``SMPLX_to_J14.pkl``,
  the two 21-joint hand regressors (wrist + 3 joints and a fingertip vertex per finger, in the order
  thumb, index, middle, ring, pinky), and the MANO / FLAME vertex subsets.
- :func:`load_smplx_to_smpl` reads SMPLest-X's ``smplx2smpl.pkl`` (key ``matrix``, 6890 x 10475) and
  keeps it sparse.
- :func:`load_h36m_regressor` reads the community ``J_regressor_h36m.npy`` (17 x 6890); with
  :data:`H36M_TO_J14` it gives the 14 LSP joints of the SPIN / HMR 2.0 3DPW protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ehps.bodymodels.io import (
    load_flame_vertex_ids,
    load_j14_regressor,
    load_mano_vertex_ids,
    safe_unpickle,
)
from ehps.bodymodels.joint_sets import (
    HAND_REGRESSOR_JOINTS,
    HAND_REGRESSOR_TIP_VERTICES,
    J_REGRESSOR_IDX,
)
from ehps.errors import BodyModelError
from ehps.utils.io import PathLike
from ehps.utils.safe_npz import load_npy, load_npz
from ehps.utils.untrusted import checked_array

__all__ = [
    "SMPLX_LSP14_FROM_55",
    "H36M_TO_J14",
    "build_hand_regressor",
    "SMPLXTopology",
    "regress",
    "load_smplx_to_smpl",
    "smplx_to_smpl",
    "load_h36m_regressor",
]


#: Rows of the 55 (SMPL-X) / 24 (SMPL) kinematic joints that SMPLer-X's 3DPW evaluation reads as
#: its 14 body joints: hips, knees, ankles, neck, head, shoulders, elbows, wrists.
SMPLX_LSP14_FROM_55: tuple[int, ...] = (1, 2, 4, 5, 7, 8, 12, 15, 16, 17, 18, 19, 20, 21)

#: H36M (17) -> 14 LSP joints (R ankle, R knee, R hip, L hip, L knee, L ankle, R wrist, R elbow,
#: R shoulder, L shoulder, L elbow, L wrist, neck, head); the SPIN ``H36M_TO_J14`` table.
H36M_TO_J14: tuple[int, ...] = (6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10)


def build_hand_regressor(j_regressor: np.ndarray, side: str) -> np.ndarray:
    """(21, V) regressor of one hand: rows of the SMPL-X ``j_regressor`` (55, V) for the wrist and
    each finger's three joints, each finger followed by a one-hot row of its fingertip vertex
    (official ``make_hand_regressor``)."""
    if side not in HAND_REGRESSOR_JOINTS:
        raise ValueError(f"side must be 'left' or 'right', not {side!r}")
    rows = HAND_REGRESSOR_JOINTS[side]
    tips = HAND_REGRESSOR_TIP_VERTICES[side]
    n_v = j_regressor.shape[1]
    out = [j_regressor[rows[0]]]
    for f in range(5):
        out += [j_regressor[r] for r in rows[1 + 3 * f : 4 + 3 * f]]
        tip = np.zeros(n_v, dtype=j_regressor.dtype)
        tip[tips[f]] = 1.0
        out.append(tip)
    return np.stack(out)


def regress(regressor: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
    """Joints (B, J, 3) = regressor (J, V) applied to vertices (B, V, 3), in the vertices'
    dtype (a sparse regressor is fine)."""
    reg = regressor.to(device=vertices.device, dtype=vertices.dtype)
    if reg.is_sparse or reg.layout != torch.strided:
        b, v, _ = vertices.shape
        flat = vertices.permute(1, 0, 2).reshape(v, b * 3)
        return (reg @ flat).reshape(-1, b, 3).permute(1, 0, 2)
    return torch.einsum("jv,bvc->bjc", reg, vertices)


@dataclass
class SMPLXTopology:
    """Evaluation regressors and vertex subsets of SMPL-X (float64 / int64 tensors, CPU).

    Attributes:
        j_regressor: (55, V) the neutral model's joint regressor.
        j14_regressor: (14, V) ``SMPLX_to_J14.pkl``.
        hand_regressors: (2, 21, V) left then right 21-joint hand regressors.
        left_hand_vertex_ids, right_hand_vertex_ids: (778,) MANO subsets.
        face_vertex_ids: (5023,) FLAME subset.
    """

    j_regressor: torch.Tensor
    j14_regressor: torch.Tensor
    hand_regressors: torch.Tensor
    left_hand_vertex_ids: torch.Tensor
    right_hand_vertex_ids: torch.Tensor
    face_vertex_ids: torch.Tensor

    pelvis: int = J_REGRESSOR_IDX["pelvis"]
    left_wrist: int = J_REGRESSOR_IDX["lwrist"]
    right_wrist: int = J_REGRESSOR_IDX["rwrist"]
    neck: int = J_REGRESSOR_IDX["neck"]

    @property
    def num_vertices(self) -> int:
        return int(self.j_regressor.shape[1])

    @classmethod
    def from_arrays(
        cls,
        j_regressor: np.ndarray,
        j14_regressor: np.ndarray,
        mano_vertex_ids: dict[str, np.ndarray],
        flame_vertex_ids: np.ndarray,
    ) -> SMPLXTopology:
        """Build from plain arrays (shapes as the attributes; ``mano_vertex_ids`` has
        ``left_hand`` / ``right_hand``)."""
        jreg = np.asarray(j_regressor, np.float64)
        n_v = jreg.shape[1]
        j14 = np.asarray(j14_regressor, np.float64)
        if jreg.shape[0] != 55 or j14.shape != (14, n_v):
            raise BodyModelError(
                f"SMPL-X regressors do not fit: J_regressor {jreg.shape}, J14 {j14.shape} "
                f"(expected (55, V) and (14, V))"
            )
        hands = np.stack([build_hand_regressor(jreg, "left"), build_hand_regressor(jreg, "right")])
        ids = [np.asarray(mano_vertex_ids[k]) for k in ("left_hand", "right_hand")]
        face = np.asarray(flame_vertex_ids)
        for name, arr in (("left hand", ids[0]), ("right hand", ids[1]), ("face", face)):
            if arr.size == 0 or arr.min() < 0 or arr.max() >= n_v:
                raise BodyModelError(f"{name} vertex ids out of range for a {n_v}-vertex mesh")
        return cls(
            j_regressor=torch.from_numpy(jreg),
            j14_regressor=torch.from_numpy(j14),
            hand_regressors=torch.from_numpy(hands),
            left_hand_vertex_ids=torch.from_numpy(ids[0].astype(np.int64)),
            right_hand_vertex_ids=torch.from_numpy(ids[1].astype(np.int64)),
            face_vertex_ids=torch.from_numpy(face.astype(np.int64)),
        )

    @classmethod
    def from_smplx_dir(cls, smplx_dir: PathLike, j_regressor: np.ndarray) -> SMPLXTopology:
        """Load the companion files of an SMPL-X directory (``SMPLX_to_J14.pkl``,
        ``MANO_SMPLX_vertex_ids.pkl``, ``SMPL-X__FLAME_vertex_ids.npy``); ``j_regressor`` (55, V)
        is the neutral model's (``SMPLX.J_regressor``).

        Raises:
            BodyModelError: a file is missing (the message lists all three) or malformed.
        """
        d = Path(smplx_dir)
        names = ("SMPLX_to_J14.pkl", "MANO_SMPLX_vertex_ids.pkl", "SMPL-X__FLAME_vertex_ids.npy")
        missing = [n for n in names if not (d / n).is_file()]
        if missing:
            raise BodyModelError(
                f"evaluation needs {', '.join(names)} next to the SMPL-X model files; missing in "
                f"{d}: {', '.join(missing)}. They come with the SMPLer-X / SMPLest-X "
                "human_model_files (SMPL-X licence)."
            )
        return cls.from_arrays(
            j_regressor,
            load_j14_regressor(d / names[0]),
            load_mano_vertex_ids(d / names[1]),
            load_flame_vertex_ids(d / names[2]),
        )

    def joints55(self, vertices: torch.Tensor) -> torch.Tensor:
        """(B, 55, 3) ``J_regressor`` joints of meshes (B, V, 3)."""
        return regress(self.j_regressor, vertices)

    def j14(self, vertices: torch.Tensor) -> torch.Tensor:
        """(B, 14, 3) LSP joints of meshes (B, V, 3)."""
        return regress(self.j14_regressor, vertices)

    def hand21(self, vertices: torch.Tensor, side: str) -> torch.Tensor:
        """(B, 21, 3) hand joints (``side`` ``"left"`` / ``"right"``) of meshes (B, V, 3)."""
        return regress(self.hand_regressors[0 if side == "left" else 1], vertices)


def _as_dense_or_sparse(value: object, key: str, path: PathLike) -> torch.Tensor:
    if hasattr(value, "tocoo"):  # scipy sparse
        coo = value.tocoo()  # type: ignore[attr-defined]
        idx = torch.from_numpy(np.stack([coo.row, coo.col]).astype(np.int64))
        vals = torch.from_numpy(np.asarray(coo.data, np.float64))
        return torch.sparse_coo_tensor(idx, vals, coo.shape, check_invariants=True).coalesce()
    arr = checked_array(value, f"{path}: '{key}'", BodyModelError, kinds="f", ndim=2)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.floating):
        raise BodyModelError(f"{path}: '{key}' must be a 2-D float matrix, got {arr.dtype} "
                             f"{arr.shape}")
    # Dense files are mostly zeros (each SMPL vertex mixes a few SMPL-X vertices): keep it sparse.
    rows, cols = np.nonzero(arr)
    idx = torch.from_numpy(np.stack([rows, cols]).astype(np.int64))
    vals = torch.from_numpy(arr[rows, cols].astype(np.float64))
    return torch.sparse_coo_tensor(idx, vals, arr.shape, check_invariants=True).coalesce()


def load_smplx_to_smpl(
    path: PathLike, num_smpl_vertices: int = 6890, num_smplx_vertices: int = 10475
) -> torch.Tensor:
    """Read the SMPL-X -> SMPL vertex map (SMPLest-X ``human_model_files/smplx2smpl.pkl``).

    Accepts the official pickle (a dict with key ``matrix``: a dense array or a scipy sparse
    matrix; read with the restricted unpickler of :mod:`ehps.bodymodels.io`) or an ``.npz`` with a
    dense ``matrix`` member.

    Returns:
        (num_smpl_vertices, num_smplx_vertices) float64 sparse COO tensor.

    Raises:
        BodyModelError: missing / unreadable file, no ``matrix`` key, or a wrong shape.
    """
    p = Path(path)
    if not p.is_file():
        raise BodyModelError(
            f"SMPL-X -> SMPL vertex map not found: {p}. It is SMPLest-X's "
            "human_model_files/smplx2smpl.pkl (key 'matrix', 6890 x 10475)."
        )
    if p.suffix == ".npz":
        arrays = load_npz(p, BodyModelError, ("matrix",))
        if "matrix" not in arrays:
            raise BodyModelError(f"{p} has no 'matrix' member")
        raw: object = arrays["matrix"]
    else:
        obj = safe_unpickle(p)
        if not isinstance(obj, dict) or "matrix" not in obj:
            raise BodyModelError(f"{p} must hold a dict with a 'matrix' entry")
        raw = obj["matrix"]
    mat = _as_dense_or_sparse(raw, "matrix", p)
    if tuple(mat.shape) != (num_smpl_vertices, num_smplx_vertices):
        raise BodyModelError(
            f"{p}: the vertex map is {tuple(mat.shape)}, expected "
            f"({num_smpl_vertices}, {num_smplx_vertices}) (SMPL x SMPL-X vertices)"
        )
    return mat


def smplx_to_smpl(matrix: torch.Tensor, smplx_vertices: torch.Tensor) -> torch.Tensor:
    """SMPL-topology vertices (B, 6890, 3) from SMPL-X vertices (B, 10475, 3) (float64 map;
    result in the input dtype)."""
    return regress(matrix, smplx_vertices.to(torch.float64)).to(smplx_vertices.dtype)


def load_h36m_regressor(path: PathLike, num_smpl_vertices: int = 6890) -> torch.Tensor:
    """Read ``J_regressor_h36m.npy`` (17, 6890) (``allow_pickle=False``) as float64."""
    p = Path(path)
    if not p.is_file():
        raise BodyModelError(
            f"H36M joint regressor not found: {p}. It is the community J_regressor_h36m.npy "
            "(17 x 6890, distributed with SPIN / HMR 2.0 data)."
        )
    arr = load_npy(p, BodyModelError)
    if arr.shape != (17, num_smpl_vertices) or arr.dtype.kind not in "iuf":
        raise BodyModelError(f"{p}: expected a (17, {num_smpl_vertices}) regressor, got "
                             f"{arr.shape}")
    return torch.from_numpy(arr.astype(np.float64))
