"""The SMPL-X body model: ehps's own layer (the ``smplx`` package is only a test reference).

``SMPLX`` is an ``nn.Module`` whose buffers are derived once from an official model file (or the
synthetic stand-in of :mod:`ehps.bodymodels.synthetic`); its forward maps pose / shape /
expression tensors to vertices, the 144 (or 127) official joints and the 55 joint transforms.
Outputs match ``smplx==0.1.28`` (``smplx.create(..., model_type="smplx")``) to float rounding.

Frames and units: the SMPL-X model frame (metres, y up, the person faces +z, +x is the person's
left). Rotations are axis-angle (radians) or rotation matrices, auto-detected per argument.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from ehps.bodymodels import lbs
from ehps.bodymodels.io import load_smplx_data
from ehps.bodymodels.joint_sets import (
    NECK_IDX,
    NUM_BODY_JOINTS,
    NUM_HAND_JOINTS,
    NUM_SMPLX_JOINTS,
    VERTEX_JOINT_IDS,
)
from ehps.bodymodels.output import BodyModelOutput
from ehps.bodymodels.paths import smplx_model_file
from ehps.errors import BodyModelError, InputError

__all__ = ["SMPLX", "load_smplx", "POSE_KEYS"]

#: Pose keywords of :meth:`SMPLX.forward` and their number of joints.
POSE_KEYS: dict[str, int] = {
    "global_orient": 1,
    "body_pose": NUM_BODY_JOINTS,
    "jaw_pose": 1,
    "leye_pose": 1,
    "reye_pose": 1,
    "left_hand_pose": NUM_HAND_JOINTS,
    "right_hand_pose": NUM_HAND_JOINTS,
}
_FULL_POSE_ORDER = ("global_orient", "body_pose", "jaw_pose", "leye_pose", "reye_pose",
                    "left_hand_pose", "right_hand_pose")  # fmt: skip
_SHAPE_SPACE = 300  # betas in a full (v1.1) SMPL-X file
_EXPR_SPACE = 100  # expression components in a full file


class SMPLX(nn.Module):
    """SMPL-X with hands and face (10475 vertices, 55 skeleton joints).

    Build it with :func:`load_smplx` (cached, searches the standard places) or
    :meth:`SMPLX.from_file`. All constants are non-persistent buffers (they never enter a
    ``state_dict``), so ``.to(device / dtype)`` moves them and checkpoints stay clean.

    Attributes:
        name: ``"smplx"``.
        faces: (F, 3) int64 triangles.
        parents: (55,) int64 kinematic tree (-1 for the pelvis).
        v_template: (V, 3) rest template.
        J_regressor: (55, V) joint regressor.
        num_betas, num_expression, num_pca_comps, use_pca, flat_hand_mean, use_face_contour:
            the options it was built with.
    """

    name = "smplx"

    def __init__(
        self,
        data: Mapping[str, np.ndarray],
        *,
        num_betas: int = 10,
        num_expression: int = 10,
        use_pca: bool = False,
        num_pca_comps: int = 6,
        flat_hand_mean: bool = False,
        use_face_contour: bool = True,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        """Build from the arrays of an SMPL-X file (:func:`ehps.bodymodels.io.load_smplx_data`).

        ``num_betas`` / ``num_expression`` are capped at what the file holds: a file with 300 +
        100 shape columns (v1.1) offers up to 300 / 100; a smaller one is read with the v1.0
        layout (10 betas in columns 0-9, 10 expression components in 10-19), as ``smplx`` does.
        """
        super().__init__()
        if dtype not in (torch.float32, torch.float64):
            raise InputError(f"dtype must be torch.float32 or torch.float64, not {dtype}")
        shapedirs = np.asarray(data["shapedirs"])
        if shapedirs.ndim == 2:
            shapedirs = shapedirs[:, :, None]
        n_cols = shapedirs.shape[-1]
        if n_cols >= _SHAPE_SPACE + _EXPR_SPACE:
            nb, ne = min(num_betas, _SHAPE_SPACE), min(num_expression, _EXPR_SPACE)
            expr0 = _SHAPE_SPACE
        else:
            nb, ne = min(num_betas, 10, n_cols), min(num_expression, 10, max(n_cols - 10, 0))
            expr0 = 10
        if num_betas < 0 or num_expression < 0:
            raise InputError("num_betas and num_expression must be >= 0")
        self.num_betas, self.num_expression = nb, ne
        self.use_pca, self.flat_hand_mean = bool(use_pca), bool(flat_hand_mean)
        self.use_face_contour = bool(use_face_contour)
        if use_pca and not 1 <= num_pca_comps <= 45:
            raise InputError(f"num_pca_comps must be in 1..45, got {num_pca_comps}")
        self.num_pca_comps = int(num_pca_comps) if use_pca else 45

        self._dtype = dtype
        self._init_body(data, shapedirs, nb, ne, expr0)
        self._init_hands(data)
        self._init_extra_joints(data)

    def _buf(self, name: str, value: np.ndarray, float_: bool = True) -> None:
        """Register a non-persistent buffer (floats in the model dtype, ints as given)."""
        t = torch.as_tensor(np.ascontiguousarray(value))
        self.register_buffer(name, t.to(self._dtype) if float_ else t, persistent=False)

    def _init_body(
        self, data: Mapping[str, np.ndarray], shapedirs: np.ndarray, nb: int, ne: int, expr0: int
    ) -> None:
        """Template, regressor, tree, the blend-shape basis and the skinning plan."""
        f64 = np.float64
        v_template = np.asarray(data["v_template"], f64)
        n_v = v_template.shape[0]
        j_reg = np.asarray(data["J_regressor"], f64)
        dirs = np.concatenate([shapedirs[:, :, :nb], shapedirs[:, :, expr0 : expr0 + ne]], 2)
        dirs = dirs.astype(f64)
        posedirs = np.asarray(data["posedirs"]).reshape(n_v, 3, -1)
        parents = np.asarray(data["kintree_table"])[0].astype(np.int64)
        parents[0] = -1
        if parents.shape[0] != NUM_SMPLX_JOINTS:
            raise BodyModelError(f"expected 55 joints, the model has {parents.shape[0]}")
        weights = np.asarray(data["weights"], f64)
        self._buf("v_template", v_template)
        self._buf("J_regressor", j_reg)
        self._buf("faces", np.asarray(data["f"]).astype(np.int64), float_=False)
        self._buf("parents", parents, float_=False)
        self._buf("lbs_weights", weights)
        anc, self._n_jumps = lbs.jump_table(parents)
        self._buf("_anc", anc.numpy(), float_=False)
        # Rest joints of the shaped body = J_template + coeffs @ J_dirs (exact, precomputed).
        self._buf("_j_template", j_reg @ v_template)
        self._buf("_j_dirs", np.einsum("jv,vck->kjc", j_reg, dirs).reshape(nb + ne, -1))

        # Skinning plan: chunks of vertices and the few joints each depends on. If the file's
        # vertex order is not local, the internal vertex order (the basis rows below) is
        # permuted, and the result is put back in file order at the end.
        order, plan = lbs.plan_skinning(weights)
        idx = np.arange(n_v) if order is None else order
        self._permuted = order is not None
        self._skin_spans = [(s, e) for s, e, _ in plan]
        for i, (s, e, joints) in enumerate(plan):
            self._buf(f"_skin_joints{i}", joints, float_=False)
            self._buf(f"_skin_w{i}", weights[idx[s:e]][:, joints])
        self._buf("_inv_order", np.argsort(idx), float_=False)
        if self._permuted:
            self._buf("_skin_w_all", weights[idx])

        # One vertex-major (3V, K + 486) basis for shape, expression and pose correctives,
        # filled by strided copies that also convert the dtype (no float64 temporaries).
        n_k = nb + ne
        basis = torch.empty(3, n_v, n_k + posedirs.shape[2], dtype=self._dtype)
        rows = torch.from_numpy(idx)
        basis[:, :, :n_k] = torch.from_numpy(dirs).permute(1, 0, 2)[:, rows]
        basis[:, :, n_k:] = torch.from_numpy(np.ascontiguousarray(posedirs)).permute(1, 0, 2)[
            :, rows]
        self.register_buffer("_blend_basis", basis.view(3 * n_v, -1), persistent=False)
        self._buf("_template_vm", v_template[idx].T.reshape(-1, 1))  # (3V, 1)

    def _init_hands(self, data: Mapping[str, np.ndarray]) -> None:
        """Mean hand pose (zero with ``flat_hand_mean``) and the PCA bases."""
        f64 = np.float64
        mean_l = np.asarray(data["hands_meanl"], f64).reshape(NUM_HAND_JOINTS, 3)
        mean_r = np.asarray(data["hands_meanr"], f64).reshape(NUM_HAND_JOINTS, 3)
        if self.flat_hand_mean:
            mean_l, mean_r = np.zeros_like(mean_l), np.zeros_like(mean_r)
        self._buf("left_hand_mean", mean_l)
        self._buf("right_hand_mean", mean_r)
        # (55, 3) axis-angle added to axis-angle input (full-pose order ends with the hands).
        self._buf("_pose_mean", np.concatenate([np.zeros((25, 3)), mean_l, mean_r]))
        self._buf("left_hand_components",
                  np.asarray(data["hands_componentsl"], f64)[: self.num_pca_comps])
        self._buf("right_hand_components",
                  np.asarray(data["hands_componentsr"], f64)[: self.num_pca_comps])

    def _init_extra_joints(self, data: Mapping[str, np.ndarray]) -> None:
        """21 vertex joints and 51 static landmarks as one selection + mixing matrix, and the
        79 x 17 contour table (vertex ids and barycentric weights)."""
        faces = np.asarray(data["f"]).astype(np.int64)
        n_v = int(self.v_template.shape[0])
        if int(np.max(VERTEX_JOINT_IDS)) >= n_v or faces.size == 0 or faces.max() >= n_v:
            raise BodyModelError(
                f"this model has {n_v} vertices, fewer than the SMPL-X topology needs (the "
                "hand / foot / face joints are vertices up to "
                f"{int(np.max(VERTEX_JOINT_IDS))}); it is not an SMPL-X model file")
        lmk_faces = np.asarray(data["lmk_faces_idx"]).astype(np.int64)
        lmk_bary = np.asarray(data["lmk_bary_coords"], np.float64)
        n_vj, n_lmk = len(VERTEX_JOINT_IDS), len(lmk_faces)
        sel = np.concatenate([VERTEX_JOINT_IDS, faces[lmk_faces].reshape(-1)])
        mix = np.zeros((len(sel), n_vj + n_lmk))
        mix[np.arange(n_vj), np.arange(n_vj)] = 1.0
        mix[n_vj + np.arange(3 * n_lmk), n_vj + np.repeat(np.arange(n_lmk), 3)] = lmk_bary.ravel()
        self._buf("_extra_sel", sel, float_=False)
        self._buf("_extra_mix_t", mix.T)  # (72, n_sel)
        # Landmarks are barycentric mixes of *untranslated* vertices (then translated), as in
        # smplx; skinning here adds transl first, so this corrects by transl * (1 - sum(bary)).
        self._buf("_extra_bias", 1.0 - mix.sum(axis=0))
        if self.use_face_contour:
            if "dynamic_lmk_faces_idx" not in data:
                raise BodyModelError(
                    "this model file has no dynamic_lmk_faces_idx / dynamic_lmk_bary_coords, "
                    "so the face contour cannot be computed: use use_face_contour=False"
                )
            dyn_faces = np.asarray(data["dynamic_lmk_faces_idx"]).astype(np.int64)
            self._buf("_dyn_verts", faces[dyn_faces], float_=False)  # (79, 17, 3)
            self._buf("_dyn_bary", np.asarray(data["dynamic_lmk_bary_coords"], np.float64))

    # ------------------------------------------------------------------ construction helpers

    @classmethod
    def from_file(
        cls,
        model_path: str | os.PathLike[str] | None = None,
        gender: Literal["neutral", "male", "female"] = "neutral",
        **options: object,
    ) -> SMPLX:
        """Load an uncached instance: ``model_path`` is a model file or a directory to search
        (see :func:`ehps.bodymodels.paths.find_smplx_dir`); ``options`` as in ``__init__``."""
        path = smplx_model_file(model_path, gender)
        return cls(load_smplx_data(path), **options)  # type: ignore[arg-type]

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_joints(self) -> int:
        """Joints returned by :meth:`forward`: 144 with the face contour, 127 without."""
        return NUM_SMPLX_JOINTS + int(self._extra_mix_t.shape[0]) + (17 if self.use_face_contour
                                                                  else 0)

    @property
    def shapedirs(self) -> torch.Tensor:
        """(V, 3, num_betas) shape directions."""
        return self._basis_dirs(0, self.num_betas)

    @property
    def expr_dirs(self) -> torch.Tensor:
        """(V, 3, num_expression) expression directions."""
        return self._basis_dirs(self.num_betas, self.num_betas + self.num_expression)

    def _basis_dirs(self, lo: int, hi: int) -> torch.Tensor:
        dirs = self._blend_basis[:, lo:hi].view(3, -1, hi - lo).permute(1, 0, 2)
        return dirs[self._inv_order] if self._permuted else dirs

    def extra_repr(self) -> str:
        return (f"num_betas={self.num_betas}, num_expression={self.num_expression}, "
                f"use_pca={self.use_pca}, num_pca_comps={self.num_pca_comps}, "
                f"flat_hand_mean={self.flat_hand_mean}, "
                f"use_face_contour={self.use_face_contour}")

    # -------------------------------------------------------------------------- forward

    def _pose(
        self, key: str, x: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """-> (axis-angle (B, n, 3) or None, rotmats (B, n, 3, 3) or None)."""
        n = POSE_KEYS[key]
        if x is None:
            return None, None
        hand = key.endswith("hand_pose")
        shape = tuple(x.shape)
        if x.ndim >= 3 and shape[-2:] == (3, 3) and (x.ndim == 4 or n == 1):
            if (x.ndim == 4 and shape[1] == n) or (x.ndim == 3 and n == 1):
                return None, x.reshape(x.shape[0], n, 3, 3)
        elif hand and self.use_pca and x.ndim == 2 and shape[1] == self.num_pca_comps:
            comps = self.left_hand_components if key.startswith("left") else (
                self.right_hand_components)
            return (x @ comps).view(x.shape[0], n, 3), None
        elif (x.ndim == 2 and shape[1] == 3 * n) or (x.ndim == 3 and shape[1:] == (n, 3)):
            return x.reshape(x.shape[0], n, 3), None
        want = f"(B, {n}, 3), (B, {3 * n}) or (B, {n}, 3, 3)" if n > 1 else (
            "(B, 3), (B, 1, 3), (B, 3, 3) or (B, 1, 3, 3)")
        if hand and self.use_pca:
            want += f", or (B, {self.num_pca_comps}) PCA coefficients"
        raise InputError(f"{key}: expected {want}, got {shape}")

    def _coeffs(self, key: str, x: torch.Tensor | None, n_max: int, batch: int) -> torch.Tensor:
        ref = self._blend_basis
        if x is None:
            return ref.new_zeros(batch, n_max)
        if x.ndim != 2 or x.shape[1] > n_max:
            raise InputError(f"{key}: expected (B, <= {n_max}), got {tuple(x.shape)} (this model "
                             f"uses {n_max} {key} components; pad or slice, or load it with "
                             "more)")
        if x.shape[1] < n_max:
            x = torch.nn.functional.pad(x, (0, n_max - x.shape[1]))
        return x

    def forward(
        self,
        global_orient: torch.Tensor | None = None,
        body_pose: torch.Tensor | None = None,
        left_hand_pose: torch.Tensor | None = None,
        right_hand_pose: torch.Tensor | None = None,
        jaw_pose: torch.Tensor | None = None,
        leye_pose: torch.Tensor | None = None,
        reye_pose: torch.Tensor | None = None,
        betas: torch.Tensor | None = None,
        expression: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ) -> BodyModelOutput:
        """Pose, shape and express the body.

        Each pose argument is axis-angle ((B, n, 3) or (B, 3n)) or rotation matrices
        ((B, n, 3, 3); for single joints also (B, 3, 3)), detected from its trailing shape; with
        ``use_pca`` the hand poses may also be (B, num_pca_comps) PCA coefficients. Axis-angle
        and PCA hand poses are relative to the mean hand unless ``flat_hand_mean`` (the mean is
        added, as in ``smplx``); rotation matrices are taken as the final local rotations (as in
        ``smplx.SMPLXLayer``). ``betas`` (B, <= num_betas) and ``expression`` (B, <=
        num_expression) are zero-padded. ``transl`` (B, 3) metres. Missing arguments are zero;
        a batch of 1 broadcasts to the batch of the others. Inputs are cast to the model dtype.

        Returns:
            :class:`~ehps.bodymodels.output.BodyModelOutput` with ``vertices`` (B, V, 3),
            ``joints`` (B, 144, 3) (127 without contour), ``joint_transforms`` (B, 55, 4, 4)
            (``transl`` included), ``rotmats`` (B, 55, 3, 3) local rotations, and ``extras``:
            ``joints_rest`` (B, 55, 3) shaped rest joints, ``full_pose`` (B, 55, 3) axis-angle
            (mean hand included) when no argument was given as rotation matrices.

        Raises:
            InputError: wrong shapes (the message gives the expected and the actual shape) or
                inconsistent batch sizes.
        """
        dtype, device = self._blend_basis.dtype, self._blend_basis.device
        given = {
            "global_orient": global_orient, "body_pose": body_pose,
            "left_hand_pose": left_hand_pose, "right_hand_pose": right_hand_pose,
            "jaw_pose": jaw_pose, "leye_pose": leye_pose, "reye_pose": reye_pose,
            "betas": betas, "expression": expression, "transl": transl,
        }  # fmt: skip
        for k, v in given.items():
            if v is not None:
                if not isinstance(v, torch.Tensor):
                    raise InputError(f"{k} must be a torch.Tensor, got {type(v).__name__}")
                if v.ndim == 0:
                    raise InputError(f"{k} must be batch-first, got a scalar")
                if v.dtype != dtype:
                    given[k] = v.to(dtype)
        sizes = {k: int(v.shape[0]) for k, v in given.items() if v is not None}
        batch = max(sizes.values(), default=1)
        bad = {k: s for k, s in sizes.items() if s not in (1, batch)}
        if bad:
            raise InputError(f"inconsistent batch sizes {sizes}: all must be {batch} (or 1)")
        t = given["transl"]
        if t is not None:
            if t.ndim != 2 or t.shape[1] != 3:
                raise InputError(f"transl: expected (B, 3), got {tuple(t.shape)}")
            t = t.expand(batch, 3)

        # ---- rotations: axis-angle parts (+ the mean hand) go through one Rodrigues call
        poses = [self._pose(key, given[key]) for key in _FULL_POSE_ORDER]
        all_aa = all(rot is None for _, rot in poses)
        aa_full = torch.cat(
            [aa.expand(batch, -1, 3) if aa is not None else
             torch.zeros(1, 1, 1, dtype=dtype, device=device).expand(batch, POSE_KEYS[key], 3)
             for key, (aa, _) in zip(_FULL_POSE_ORDER, poses)],
            dim=1,
        ) + self._pose_mean  # (B, 55, 3); rotation-matrix slots hold placeholders
        rotmats = lbs.rodrigues(aa_full)
        if not all_aa:
            rot_parts, start = [], 0
            for key, (_, rot) in zip(_FULL_POSE_ORDER, poses):
                n = POSE_KEYS[key]
                rot_parts.append(rotmats[:, start:start + n] if rot is None
                                 else rot.expand(batch, n, 3, 3))
                start += n
            rotmats = torch.cat(rot_parts, dim=1)

        # ---- blend shapes (one GEMM) and rest joints
        nb, ne = self.num_betas, self.num_expression
        shape_coeffs = torch.cat(
            (self._coeffs("betas", given["betas"], nb, batch).expand(batch, nb),
             self._coeffs("expression", given["expression"], ne, batch).expand(batch, ne)),
            dim=1,
        )
        coeffs = torch.cat((shape_coeffs, lbs.pose_features(rotmats)), dim=1)
        if batch == 1 and device.type == "cpu":  # MKL's GEMM reads the basis ~2x faster than
            # its GEMV (benchmarks/bodymodel_speed.py), so one sample is computed twice
            v_posed = torch.addmm(self._template_vm, self._blend_basis,
                                  coeffs.repeat(2, 1).t())[:, :1].contiguous()
        else:
            v_posed = torch.addmm(self._template_vm, self._blend_basis, coeffs.t())  # (3V, B)
        joints_rest = torch.addmm(self._j_template.view(-1), shape_coeffs,
                                  self._j_dirs).view(batch, NUM_SMPLX_JOINTS, 3)

        # ---- kinematic chain and skinning
        g = lbs.global_transforms(rotmats, joints_rest, self.parents, self._anc, self._n_jumps)
        a = lbs.skinning_transforms(g, joints_rest)
        chunks = None  # one dense GEMM on accelerators and for small batches
        if device.type == "cpu" and batch >= 8:
            chunks = [(s, e, getattr(self, f"_skin_joints{i}"), getattr(self, f"_skin_w{i}"))
                      for i, (s, e) in enumerate(self._skin_spans)]
        w_all = self._skin_w_all if self._permuted else self.lbs_weights
        vertices = lbs.skin(a, w_all, v_posed.view(3, -1, batch), t, chunks)
        if self._permuted:  # back to the file's vertex order
            vertices = vertices.index_select(1, self._inv_order)

        # ---- extra joints: vertex joints + static landmarks (+ dynamic contour)
        sel = vertices.index_select(1, self._extra_sel)  # (B, n_sel, 3)
        parts = [g[:, :, :3, 3], self._extra_mix_t @ sel]
        if t is not None:
            parts[1] = parts[1].addcmul(t.unsqueeze(1), self._extra_bias[:, None])
        if self.use_face_contour:
            parts.append(self._contour(vertices, g[:, NECK_IDX, :3, :3], t))
        transforms = g
        if t is not None:
            parts[0] = parts[0] + t.unsqueeze(1)
            transforms = torch.cat((g[:, :, :3, :3], parts[0].unsqueeze(-1)), dim=-1)
            transforms = torch.cat((transforms, g[:, :, 3:]), dim=-2)
        joints = torch.cat(parts, dim=1)
        extras = {"joints_rest": joints_rest}
        if all_aa:
            extras["full_pose"] = aa_full
        return BodyModelOutput(vertices=vertices, joints=joints, joint_transforms=transforms,
                               rotmats=rotmats, extras=extras)

    def _contour(
        self, verts: torch.Tensor, neck_rot: torch.Tensor, transl: torch.Tensor | None
    ) -> torch.Tensor:
        """(B, V, 3) vertices (``transl`` included), (B, 3, 3) global neck rotation ->
        (B, 17, 3) contour landmarks.

        The lookup row is the neck's rotation about y in whole degrees (clamped to 39), with
        negative angles stored in rows 40..78, as in the SMPL-X reference code.
        """
        sy = torch.sqrt(neck_rot[:, 0, 0] ** 2 + neck_rot[:, 1, 0] ** 2)
        y_deg = torch.round(torch.clamp(-torch.atan2(-neck_rot[:, 2, 0], sy) * 180.0 / np.pi,
                                        max=39.0)).long()
        row = torch.where(y_deg < 0, torch.where(y_deg < -39, 78, 39 - y_deg), y_deg)
        b = verts.shape[0]
        vid = self._dyn_verts[row].view(b, -1)  # (B, 17 * 3)
        picked = verts[torch.arange(b, device=verts.device)[:, None], vid]  # (B, 51, 3)
        bary = self._dyn_bary[row]  # (B, 17, 3)
        out = (picked.view(b, -1, 3, 3) * bary.unsqueeze(-1)).sum(2)
        if transl is not None:  # barycentric mix of untranslated vertices, then translated
            out = out.addcmul(transl.unsqueeze(1), 1.0 - bary.sum(-1, keepdim=True))
        return out


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float, options: tuple) -> SMPLX:
    return SMPLX(load_smplx_data(path), **dict(options))


def load_smplx(
    model_path: str | os.PathLike[str] | None = None,
    gender: Literal["neutral", "male", "female"] = "neutral",
    *,
    num_betas: int = 10,
    num_expression: int = 10,
    use_pca: bool = False,
    num_pca_comps: int = 6,
    flat_hand_mean: bool = False,
    use_face_contour: bool = True,
    dtype: torch.dtype = torch.float32,
) -> SMPLX:
    """Load (and cache) an SMPL-X model; the defaults are the official SMPLer-X usage.

    Args:
        model_path: a model file, or a directory holding ``SMPLX_<GENDER>.npz|pkl`` (or a
            ``smplx/`` sub-directory); ``None`` searches ``$EHPS_BODY_MODELS`` and the user data
            directory (:func:`ehps.bodymodels.paths.find_smplx_dir`).
        gender: which file to use.
        num_betas, num_expression, use_pca, num_pca_comps, flat_hand_mean, use_face_contour,
            dtype: see :class:`SMPLX`.

    Returns:
        A cached :class:`SMPLX` on the CPU, shared by every caller with the same resolved file
        and options: do not modify it in place (``.to()`` returns it moved for all callers);
        use :meth:`SMPLX.from_file` for a private copy. The cache holds at most 8 models.

    Raises:
        BodyModelError: no model file (the message lists where it looked and what to get), or
            the file is not an SMPL-X model.
    """
    path = smplx_model_file(model_path, gender)
    options = (("num_betas", num_betas), ("num_expression", num_expression),
               ("use_pca", use_pca), ("num_pca_comps", num_pca_comps),
               ("flat_hand_mean", flat_hand_mean), ("use_face_contour", use_face_contour),
               ("dtype", dtype))  # fmt: skip
    return _load_cached(str(Path(path).resolve()), path.stat().st_mtime, options)


load_smplx.cache_clear = _load_cached.cache_clear  # type: ignore[attr-defined]
