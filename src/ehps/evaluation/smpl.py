"""A minimal SMPL layer (6890 vertices, 24 joints) for the ground truth of SMPL-annotated
benchmarks (3DPW), built on the same LBS functions as ehps's SMPL-X layer
(:mod:`ehps.bodymodels.lbs`). It matches ``smplx.SMPL`` (0.1.28) vertices to float rounding.

Files: the official ``SMPL_{NEUTRAL,MALE,FEMALE}.pkl`` (chumpy pickles; read with the restricted
unpickler of :mod:`ehps.bodymodels.io`, chumpy arrays become plain arrays) or ``.npz`` files with
the same keys. They are looked for in an explicit directory, then ``$EHPS_BODY_MODELS/smpl``, then
``<user data dir>/body_models/smpl``. They cannot ship with ehps (SMPL licence,
https://smpl.is.tue.mpg.de).

Frame and units: the SMPL model frame (metres, y up), axis-angle radians.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ehps.bodymodels import lbs
from ehps.bodymodels.io import check_kintree, index_array, model_array, safe_unpickle
from ehps.bodymodels.output import BodyModelOutput
from ehps.bodymodels.paths import ENV_VAR, default_body_models_dir
from ehps.errors import BodyModelError, InputError
from ehps.utils.io import PathLike
from ehps.utils.safe_npz import load_npz

__all__ = [
    "SMPL_FILES",
    "SMPL_REQUIRED_KEYS",
    "find_smpl_file",
    "load_smpl_data",
    "SMPL",
    "load_smpl",
]


#: Accepted file names per gender (official SMPLer-X ``human_model_files/smpl`` names first).
SMPL_FILES: dict[str, tuple[str, ...]] = {
    "neutral": (
        "SMPL_NEUTRAL.pkl", "SMPL_NEUTRAL.npz", "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    ),
    "male": ("SMPL_MALE.pkl", "SMPL_MALE.npz", "basicmodel_m_lbs_10_207_0_v1.0.0.pkl"),
    "female": ("SMPL_FEMALE.pkl", "SMPL_FEMALE.npz", "basicModel_f_lbs_10_207_0_v1.0.0.pkl"),
}
SMPL_REQUIRED_KEYS = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights",
                      "kintree_table")  # fmt: skip


def _candidates(explicit: PathLike | None) -> list[Path]:
    out = []
    if explicit is not None:
        p = Path(explicit).expanduser()
        out += [p / "smpl", p]
    env = os.environ.get(ENV_VAR)
    if env:
        out += [Path(env).expanduser() / "smpl", Path(env).expanduser()]
    out.append(default_body_models_dir() / "smpl")
    return out


def find_smpl_file(explicit: PathLike | None = None, gender: str = "neutral") -> Path:
    """The SMPL model file for ``gender`` (``explicit`` may be the file itself or a directory).

    Raises:
        BodyModelError: not found; the message lists the places and file names searched.
    """
    gender = gender.lower()
    if gender not in SMPL_FILES:
        raise BodyModelError(f"unknown SMPL gender {gender!r}; use neutral, male or female")
    if explicit is not None and Path(explicit).expanduser().is_file():
        return Path(explicit).expanduser()
    places = _candidates(explicit)
    for d in places:
        for name in SMPL_FILES[gender]:
            if (d / name).is_file():
                return d / name
    raise BodyModelError(
        f"SMPL model file for gender {gender!r} not found (needed for SMPL ground truth, e.g. "
        f"3DPW). Looked for {' / '.join(SMPL_FILES[gender])} in: "
        + ", ".join(str(d) for d in places)
        + f". Download SMPL from https://smpl.is.tue.mpg.de and pass --smpl-dir, or put it in "
        f"${ENV_VAR}/smpl."
    )


def load_smpl_data(path: PathLike) -> dict[str, np.ndarray]:
    """Read an SMPL model file (``.pkl`` or ``.npz``) into plain numpy arrays.

    Raises:
        BodyModelError: unreadable file, missing keys or shapes that are not SMPL's
            (24 joints, posedirs with 207 columns).
    """
    p = Path(path)
    if not p.is_file():
        raise BodyModelError(f"SMPL model file not found: {p}")
    if p.suffix == ".npz":
        raw = load_npz(p, BodyModelError, tuple(SMPL_REQUIRED_KEYS))
    else:
        obj = safe_unpickle(p)
        if not isinstance(obj, Mapping):
            raise BodyModelError(f"{p} holds a {type(obj).__name__}, not an SMPL model dict")
        raw = {k: model_array(k, obj[k], p) for k in SMPL_REQUIRED_KEYS if k in obj}
    missing = [k for k in SMPL_REQUIRED_KEYS if k not in raw]
    if missing:
        raise BodyModelError(f"{p} is not an SMPL model file: missing {', '.join(missing)}")
    v = raw["v_template"]
    ok = (
        v.ndim == 2
        and v.shape[1] == 3
        and raw["J_regressor"].shape == (24, v.shape[0])
        and raw["weights"].shape == (v.shape[0], 24)
        and raw["posedirs"].size == v.shape[0] * 3 * 207
        and raw["shapedirs"].ndim in (2, 3) and raw["shapedirs"].shape[:2] == (v.shape[0], 3)
        and raw["f"].ndim == 2 and raw["f"].shape[1] == 3
        and raw["kintree_table"].shape == (2, 24)
    )
    if not ok:
        raise BodyModelError(
            f"{p} does not look like SMPL (expected 24 joints and 207 pose correctives; got "
            f"v_template {v.shape}, J_regressor {raw['J_regressor'].shape}, weights "
            f"{raw['weights'].shape})"
        )
    index_array(raw, "f", v.shape[0], p)
    check_kintree(raw["kintree_table"], p)
    return raw


class SMPL(nn.Module):
    """SMPL body model (no hands / face), forward by linear blend skinning.

    Attributes:
        J_regressor: (24, V) joint regressor (what the official evaluation applies to meshes).
        faces: (F, 3) int64.
        parents: (24,) int64.
    """

    name = "smpl"

    def __init__(
        self,
        data: Mapping[str, np.ndarray],
        num_betas: int = 10,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        f64 = np.float64
        v_template = np.asarray(data["v_template"], f64)
        n_v = v_template.shape[0]
        shapedirs = np.asarray(data["shapedirs"], f64).reshape(n_v, 3, -1)
        self.num_betas = min(int(num_betas), shapedirs.shape[-1])
        posedirs = np.asarray(data["posedirs"], f64).reshape(n_v, 3, -1)
        parents = np.asarray(data["kintree_table"])[0].astype(np.int64)
        parents[0] = -1

        def buf(name: str, value: np.ndarray, dt: torch.dtype | None = dtype) -> None:
            t = torch.as_tensor(np.ascontiguousarray(value))
            self.register_buffer(name, t.to(dt) if dt is not None else t, persistent=False)

        buf("v_template", v_template)
        buf("J_regressor", np.asarray(data["J_regressor"], f64))
        buf("faces", np.asarray(data["f"]).astype(np.int64), None)
        buf("parents", parents, None)
        buf("shapedirs", shapedirs[:, :, : self.num_betas])
        buf("posedirs", posedirs)
        buf("lbs_weights", np.asarray(data["weights"], f64))
        anc, n_jumps = lbs.jump_table(parents)
        self._n_jumps = n_jumps
        buf("_anc", anc.numpy(), None)

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    def forward(
        self,
        global_orient: torch.Tensor | None = None,
        body_pose: torch.Tensor | None = None,
        betas: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ) -> BodyModelOutput:
        """Pose and shape the body.

        Args:
            global_orient: (B, 3) axis-angle root rotation.
            body_pose: (B, 23, 3) or (B, 69) axis-angle joints 1..23.
            betas: (B, <= num_betas) shape coefficients (zero-padded).
            transl: (B, 3) metres.

        Returns:
            ``vertices`` (B, V, 3), ``joints`` (B, 24, 3) posed kinematic joints (``transl``
            included), ``joint_transforms`` (B, 24, 4, 4) without ``transl``, ``rotmats``.
        """
        dtype, device = self.v_template.dtype, self.v_template.device
        given = [x for x in (global_orient, body_pose, betas, transl) if x is not None]
        batch = max((int(x.shape[0]) for x in given), default=1)
        go = torch.zeros(batch, 3, dtype=dtype, device=device) if global_orient is None else (
            global_orient.to(dtype).reshape(-1, 3).expand(batch, 3))
        if body_pose is None:
            bp = torch.zeros(batch, 23, 3, dtype=dtype, device=device)
        else:
            if body_pose.shape[-1] not in (3, 69) or body_pose[0].numel() != 69:
                raise InputError(f"body_pose: expected (B, 23, 3) or (B, 69), got "
                                 f"{tuple(body_pose.shape)}")
            bp = body_pose.to(dtype).reshape(-1, 23, 3).expand(batch, 23, 3)
        nb = self.num_betas
        if betas is None:
            be = torch.zeros(batch, nb, dtype=dtype, device=device)
        else:
            if betas.ndim != 2 or betas.shape[1] > nb:
                raise InputError(f"betas: expected (B, <= {nb}), got {tuple(betas.shape)}")
            be = torch.nn.functional.pad(betas.to(dtype), (0, nb - betas.shape[1]))
            be = be.expand(batch, nb)
        rotmats = lbs.rodrigues(torch.cat((go[:, None], bp), dim=1))  # (B, 24, 3, 3)
        v_shaped = self.v_template + torch.einsum("vck,bk->bvc", self.shapedirs, be)
        joints_rest = torch.einsum("jv,bvc->bjc", self.J_regressor, v_shaped)
        feats = lbs.pose_features(rotmats)  # (B, 207)
        v_posed = v_shaped + torch.einsum("vck,bk->bvc", self.posedirs, feats)
        g = lbs.global_transforms(rotmats, joints_rest, self.parents, self._anc, self._n_jumps)
        a = lbs.skinning_transforms(g, joints_rest)  # (B, 24, 3, 4)
        verts = lbs.skin(a, self.lbs_weights, v_posed.permute(2, 1, 0))  # one dense GEMM
        joints = g[:, :, :3, 3]
        if transl is not None:
            t = transl.to(dtype).reshape(-1, 3).expand(batch, 3)
            verts = verts + t[:, None]
            joints = joints + t[:, None]
        return BodyModelOutput(vertices=verts, joints=joints, joint_transforms=g,
                               rotmats=rotmats)


def load_smpl(
    explicit: PathLike | None = None, gender: str = "neutral", dtype: torch.dtype = torch.float32
) -> SMPL:
    """Find (:func:`find_smpl_file`) and load an SMPL model of ``gender``."""
    return SMPL(load_smpl_data(find_smpl_file(explicit, gender)), dtype=dtype)
