"""A body model as a rigged character: skeleton, skinned mesh and morph targets at one shape, and
its animation over a track as per-frame joint transforms.

Everything is taken from the body model that produced the track, so that an exported file plays
back exactly what ehps computed:

- **SMPL-X** (:class:`ehps.bodymodels.smplx.SMPLX`): the 55 skeleton joints, bind pose = the
  shaped rest joints with identity orientation, the model's linear-blend-skinning weights, the
  expression components as morph targets. Left out (no glTF/BVH equivalent): the pose-corrective
  blend shapes (a few millimetres on bent elbows and knees).
- **Anny** (:class:`ehps.bodymodels.anny.AnnyBody`): Anny's own 104-bone rig (19 bones per hand,
  toes, eyes), bind pose = its rest bone frames at the track's phenotype, Anny's skinning weights
  (up to 9 per vertex), the 52 facial actions as morph targets. The 55 SMPL-X joints ehps reports
  for Anny are fixed combinations of bone frames (:attr:`Rig.marker_weights`).

Frames and units: the bind pose is in the SMPL-X model frame (metres, y up, the person faces +z);
a :class:`Clip` holds joint transforms in whatever frame the caller chose (the world frame of
:mod:`ehps.world`, or the camera), because the body model's own output frame is the camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ehps.errors import InputError

__all__ = ["Rig", "Clip", "build_rig", "pose_clip", "body_model_name", "SHAPE_KEYS"]

#: The shape parameter of each body model (constant per track; its mean over the track is used).
SHAPE_KEYS = {"smplx": "betas", "anny": "phenotype"}
#: Per-frame face parameters that drive morph targets.
FACE_KEYS = {"smplx": "expression", "anny": "facial_actions"}
_POSE_KEYS = {
    "smplx": ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose",
              "leye_pose", "reye_pose"),
    "anny": ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose"),
}  # fmt: skip
_CHUNK = 64


@dataclass
class Rig:
    """A skinned character in its bind pose (SMPL-X model frame, metres).

    Attributes:
        body_model: ``"smplx"`` or ``"anny"``.
        joint_names: (J,) skeleton joint (bone) names; ``parents`` (J,) int, -1 for the root,
            parents before children.
        bind: (J, 4, 4) float64 world transform of every joint in the bind pose (translation =
            joint position; rotation = the joint frame's orientation, identity for SMPL-X).
        vertices: (V, 3) float32 bind-pose mesh; ``normals`` (V, 3); ``faces`` (F, 3) uint32.
        skin_joints: (V, K) int joint indices, ``skin_weights`` (V, K) float32, largest first,
            rows summing to 1 (K = the most influences any vertex has, a multiple of 4).
        morph_names: (M,) names of the morph targets; ``morph_deltas`` (M, V, 3) float32 vertex
            offsets (bind pose, before skinning).
        marker_weights: (55, J) and ``marker_offsets`` (55, J, 3): the 55 SMPL-X skeleton joints
            ehps reports, as ``sum_b w[j, b] * (G_b @ [offset[j, b], 1])`` over posed joint
            transforms ``G`` (identity weights for SMPL-X).
        shape: the shape parameters the rig was built at (``betas`` or ``phenotype``).
    """

    body_model: str
    joint_names: tuple[str, ...]
    parents: np.ndarray
    bind: np.ndarray
    vertices: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    skin_joints: np.ndarray
    skin_weights: np.ndarray
    morph_names: tuple[str, ...]
    morph_deltas: np.ndarray
    marker_weights: np.ndarray
    marker_offsets: np.ndarray
    shape: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def markers(self, transforms: np.ndarray) -> np.ndarray:
        """(..., J, 4, 4) posed joint transforms -> (..., 55, 3) SMPL-X skeleton joints."""
        pts = np.einsum("...bik,jbk->...jbi", transforms[..., :3, :3], self.marker_offsets)
        pts = pts + transforms[..., None, :, :3, 3]
        return np.einsum("jb,...jbi->...ji", self.marker_weights, pts)


@dataclass
class Clip:
    """A rig's animation: per-frame joint transforms and morph weights.

    Attributes:
        fps: frames per second; ``frame_index`` (T,) video frame of each sample.
        transforms: (T, J, 4, 4) float64 world transform of every joint (the frame is the
            caller's: see :func:`pose_clip`).
        morph_weights: (T, M) float32 morph-target weights.
        joints: (T, 55, 3) float64 the SMPL-X skeleton joints ehps computes for these frames
            (the body model's output), in the same frame.
    """

    fps: float
    frame_index: np.ndarray
    transforms: np.ndarray
    morph_weights: np.ndarray
    joints: np.ndarray

    @property
    def times(self) -> np.ndarray:
        """(T,) seconds from the clip's first frame."""
        return (self.frame_index - self.frame_index[0]) / self.fps


def body_model_name(params: dict[str, Any]) -> str:
    """``"anny"`` when the parameters hold Anny's shape, else ``"smplx"``."""
    return "anny" if "phenotype" in params else "smplx"


def _tensor(x: Any, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=dtype)


def _vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    v = verts.astype(np.float64)
    tri = v[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # area-weighted
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    n = np.where(norm > 0, n / np.maximum(norm, 1e-30), np.array([0.0, 1.0, 0.0]))
    return n.astype(np.float32)


def _sparse_skin(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(V, J) weights -> (V, K) indices and weights, largest first, K a multiple of 4."""
    w = np.asarray(dense, np.float64)
    w = np.where(w > 1e-7, w, 0.0)
    k = max(4, int(np.ceil((w > 0).sum(1).max() / 4.0)) * 4)
    order = np.argsort(-w, axis=1, kind="stable")[:, :k]
    vals = np.take_along_axis(w, order, axis=1)
    vals /= vals.sum(1, keepdims=True)
    order = np.where(vals > 0, order, 0)
    return order.astype(np.int64), vals.astype(np.float32)


def _mean_shape(params: dict[str, np.ndarray], key: str, valid: np.ndarray) -> np.ndarray:
    x = np.asarray(params[key], np.float64)
    x = x.reshape(x.shape[0], -1)
    return x[valid].mean(0) if valid.any() else x.mean(0)


def build_rig(bm: Any, shape: np.ndarray) -> Rig:
    """The rigged character of body model ``bm`` at one shape.

    Args:
        bm: an :class:`~ehps.bodymodels.smplx.SMPLX` or :class:`~ehps.bodymodels.anny.AnnyBody`.
        shape: (nb,) SMPL-X betas or (6,) Anny phenotype.
    """
    name = getattr(bm, "name", "")
    if name == "smplx":
        return _smplx_rig(bm, np.asarray(shape, np.float64).reshape(-1))
    if name == "anny":
        return _anny_rig(bm, np.asarray(shape, np.float64).reshape(-1))
    raise InputError(f"cannot rig the body model {name!r}: expected 'smplx' or 'anny'")


def _smplx_rig(bm: Any, betas: np.ndarray) -> Rig:
    from ehps.bodymodels.joint_sets import SMPLX_SKELETON_NAMES

    eye = torch.eye(3).expand(1, 55, 3, 3)
    b = torch.zeros(1, bm.num_betas)
    b[0, : min(len(betas), bm.num_betas)] = _tensor(betas[: bm.num_betas])
    with torch.inference_mode():
        out = bm(global_orient=eye[:, :1], body_pose=eye[:, 1:22], jaw_pose=eye[:, 22:23],
                 leye_pose=eye[:, 23:24], reye_pose=eye[:, 24:25],
                 left_hand_pose=eye[:, 25:40], right_hand_pose=eye[:, 40:55], betas=b)
    verts = out.vertices[0].double().numpy()
    bind = np.tile(np.eye(4), (55, 1, 1))
    bind[:, :3, 3] = out.joint_transforms[0, :, :3, 3].double().numpy()
    faces = bm.faces.numpy().astype(np.uint32)
    sj, sw = _sparse_skin(bm.lbs_weights.double().numpy())
    expr = bm.expr_dirs.double().numpy().transpose(2, 0, 1)  # (ne, V, 3)
    return Rig(
        body_model="smplx", joint_names=tuple(SMPLX_SKELETON_NAMES),
        parents=bm.parents.numpy().astype(np.int64), bind=bind,
        vertices=verts.astype(np.float32), normals=_vertex_normals(verts, faces), faces=faces,
        skin_joints=sj, skin_weights=sw,
        morph_names=tuple(f"expression{i:02d}" for i in range(expr.shape[0])),
        morph_deltas=expr.astype(np.float32),
        marker_weights=np.eye(55), marker_offsets=np.zeros((55, 55, 3)),
        shape={"betas": b[0].double().numpy()},
    )  # fmt: skip


def _anny_rig(bm: Any, phenotype: np.ndarray) -> Rig:
    model = bm.model
    f = bm.anny_to_smplx.double()
    pheno = _tensor(phenotype, bm.dtype)[None]
    n_fa = len(bm.facial_action_labels)
    faces_in = torch.cat((torch.zeros(1, n_fa), torch.eye(n_fa))).to(bm.dtype)
    with torch.inference_mode():
        coeffs = model._get_phenotype_blendshape_coefficients(
            pheno.expand(n_fa + 1, -1), pheno.new_zeros(n_fa + 1, 0), faces_in)
        rest = model.get_rest_model(coeffs)
        zero = torch.zeros(1, 3, dtype=bm.dtype)
        jaw_rest = bm(global_orient=zero, phenotype=pheno).joints[0, bm.jaw_index].double()
    rot = f @ rest["rest_bone_poses"][0, :, :3, :3].double()
    heads = (f @ rest["rest_bone_heads"][0].double().T).T
    bind = np.tile(np.eye(4), (rot.shape[0], 1, 1))
    bind[:, :3, :3] = rot.numpy()
    bind[:, :3, 3] = heads.numpy()
    rest_v = (f @ rest["rest_vertices"].double().transpose(1, 2)).transpose(1, 2).numpy()
    verts, deltas = rest_v[0], rest_v[1:] - rest_v[:1]
    faces = bm.faces.numpy().astype(np.uint32)
    dense = torch.zeros(verts.shape[0], rot.shape[0], dtype=torch.float64)
    dense.scatter_add_(1, model.vertex_bone_indices.long(), model.vertex_bone_weights.double())
    sj, sw = _sparse_skin(dense.numpy())
    weights = bm.joint_head_regressor.double().numpy().copy()
    offsets = np.zeros((55, rot.shape[0], 3))
    head = bm.head_bone
    weights[bm.jaw_index, head] = 1.0
    offsets[bm.jaw_index, head] = (np.linalg.inv(bind[head]) @ np.r_[jaw_rest.numpy(), 1.0])[:3]
    return Rig(
        body_model="anny", joint_names=tuple(bm.bone_labels),
        parents=np.asarray(list(model.bone_parents), np.int64), bind=bind,
        vertices=verts.astype(np.float32), normals=_vertex_normals(verts, faces), faces=faces,
        skin_joints=sj, skin_weights=sw, morph_names=tuple(bm.facial_action_labels),
        morph_deltas=deltas.astype(np.float32), marker_weights=weights, marker_offsets=offsets,
        shape={"phenotype": np.asarray(phenotype, np.float64)},
    )  # fmt: skip


def pose_clip(
    bm: Any,
    rig: Rig,
    params: dict[str, np.ndarray],
    frame_index: np.ndarray,
    fps: float,
    world_from_model: np.ndarray | None = None,
) -> Clip:
    """Evaluate the body model over a track at the rig's shape.

    Args:
        bm: the body model the rig was built from.
        rig: :func:`build_rig` of ``bm``.
        params: per-frame parameters, each (T, ...): the pose keys (axis-angle), ``transl``
            (T, 3) or (T, 1, 3) metres, and the face key (``expression`` / ``facial_actions``)
            when present. The shape key is ignored (the rig's shape is used).
        frame_index: (T,) video frame of each row; ``fps`` the frame rate.
        world_from_model: (4, 4) rigid transform applied to the body model's output frame (e.g.
            world-from-camera); identity by default.

    Returns:
        :class:`Clip` with transforms, morph weights and the 55 joints in the transformed frame.
    """
    name = rig.body_model
    n = len(frame_index)
    w = np.eye(4) if world_from_model is None else np.asarray(world_from_model, np.float64)
    shape_key = SHAPE_KEYS[name]
    shape = _tensor(rig.shape[shape_key])[None]
    transforms, morphs, joints = [], [], []
    for s in range(0, n, _CHUNK):
        e = min(n, s + _CHUNK)
        inputs = {k: _tensor(np.asarray(params[k])[s:e]).reshape(e - s, -1)
                  for k in _POSE_KEYS[name] if k in params}
        if "transl" in params:
            inputs["transl"] = _tensor(np.asarray(params["transl"])[s:e]).reshape(e - s, 3)
        face = FACE_KEYS[name]
        if face in params:
            inputs[face] = _tensor(np.asarray(params[face])[s:e]).reshape(e - s, -1)
        inputs[shape_key] = shape.expand(e - s, -1)
        with torch.inference_mode():
            out = bm(**inputs)
        if name == "smplx":
            g = out.joint_transforms.double().numpy()
            m = inputs.get(face, torch.zeros(e - s, len(rig.morph_names)))
            m = torch.nn.functional.pad(m, (0, len(rig.morph_names) - m.shape[1]))
        else:
            g = out.extras["bone_poses"].double().numpy()
            m = out.extras["facial_actions"]
        transforms.append(w @ g)
        morphs.append(m.float().numpy())
        j = out.joints[:, :55].double().numpy()
        joints.append(j @ w[:3, :3].T + w[:3, 3])
    return Clip(
        fps=float(fps), frame_index=np.asarray(frame_index, np.int64),
        transforms=np.concatenate(transforms), morph_weights=np.concatenate(morphs),
        joints=np.concatenate(joints),
    )


def mean_shape(body_model: str, params: dict[str, np.ndarray], valid: np.ndarray) -> np.ndarray:
    """The track's shape: the mean of the shape parameter over its valid frames."""
    return _mean_shape(params, SHAPE_KEYS[body_model], np.asarray(valid, bool))
