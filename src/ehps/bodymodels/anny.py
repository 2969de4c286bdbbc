"""The embedded open body model: Anny (naver, Apache-2.0 code, CC0 data) behind the SMPL-X protocol.

:class:`AnnyBody` takes SMPL-X pose keywords and returns :class:`BodyModelOutput` in the SMPL-X
frame (y up, the person faces +z, x = the person's left, metres), with the 55 SMPL-X skeleton
joints mapped from Anny's bones. Zero pose is the SMPL-X T-pose; a SMPL-X pose gives about the same
pose on Anny (the mapping and its approximations: :mod:`ehps.bodymodels.anny_mapping`).

Shape is Anny's phenotype (B, 6) in [0, 1] over ``[gender, age, muscle, weight, height,
proportions]`` (0.5 each by default) and the face its 52 ARKit-style facial actions (B, 52) in
[0, 1] (:attr:`AnnyBody.facial_action_labels`, 0 by default). The default rig has no jaw bone:
``jaw_pose`` opens the mouth through the ``jawOpen`` facial action (only its pitch, the rotation
about x, is used; ``jawOpen = pitch / jaw_open_rad`` clipped to [0, 1] and added to the given
``jawOpen``; side-to-side and forward jaw rotations are ignored). Hand poses have flat-hand
semantics (zero = straight fingers, like SMPL-X with ``flat_hand_mean=True``).

Cache: the first construction on a machine builds Anny's model data (~40 s) into the cache
directory (the ``cache_dir`` argument, else ``$ANNY_CACHE_DIR``, else ``~/.cache/ehps/anny``);
later ones load it in about a second. Nothing is downloaded. See
:mod:`ehps.bodymodels.anny_build`.
"""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ehps.bodymodels.anny_build import build_anny_model, resolve_anny_cache_dir, warm_roma_cache
from ehps.bodymodels.anny_mapping import (
    ANNY_TO_SMPLX,
    FOREARM_TWIST_SHARE,
    SMPLX_JOINT_BONES,
    SMPLX_JOINT_NAMES_55,
    SMPLX_PARENTS_55,
    TPoseCalibration,
    bone_drivers,
    smplx_global_rotations,
    twist_angle,
)
from ehps.bodymodels.output import BodyModelOutput
from ehps.errors import BodyModelError, InputError
from ehps.geometry.rotations import aa_to_rotmat

__all__ = ["AnnyBody", "load_anny", "resolve_anny_cache_dir", "PHENOTYPE_LABELS"]

#: Anny's phenotype parameters, in the order of the ``phenotype`` tensor.
PHENOTYPE_LABELS = ("gender", "age", "muscle", "weight", "height", "proportions")

_TABLES = "anny_landmarks.npz"
_POSE_KEYS = (  # keyword, number of joints, first SMPL-X joint index
    ("global_orient", 1, 0),
    ("body_pose", 21, 1),
    ("jaw_pose", 1, 22),
    ("left_hand_pose", 15, 25),
    ("right_hand_pose", 15, 40),
)


def _to_smplx(points: torch.Tensor) -> torch.Tensor:
    """Anny-frame points (..., 3) -> SMPL-X frame: (x, y, z) -> (x, z, -y) (= ``ANNY_TO_SMPLX``;
    written out because a (..., 3) @ (3, 3) product is slow for large point sets)."""
    return torch.stack((points[..., 0], points[..., 2], -points[..., 1]), dim=-1)


def _load_tables() -> dict[str, np.ndarray]:
    ref = resources.files("ehps").joinpath("assets", _TABLES)
    with resources.as_file(ref) as path:
        if not Path(path).exists():
            raise BodyModelError(
                f"the Anny landmark tables {path} are missing from the installed package; "
                "regenerate them with `python scripts/build_anny_landmarks.py` or reinstall ehps"
            )
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}


class AnnyBody(nn.Module):
    """Anny behind the SMPL-X-shaped :class:`~ehps.bodymodels.output.BodyModel` protocol.

    Args:
        cache_dir: where Anny's model-data cache lives (see :func:`resolve_anny_cache_dir`).
        facial_actions: build the 52 facial-action blendshapes (needed for ``facial_actions`` and
            ``jaw_pose``); ``False`` loads a smaller model.
        dtype: floating dtype of the model buffers and outputs (float32 or float64).

    Attributes:
        faces: (F, 3) int64 triangles (F = 27,420).
        parents: (55,) int64 SMPL-X parents of the output skeleton.
        facial_action_labels: the 52 facial-action names (empty when built without them).
        mediapipe_valid: per-point validity of :meth:`mediapipe_keypoints` (bool arrays).
    """

    name = "anny"
    phenotype_labels = PHENOTYPE_LABELS
    joint_names = SMPLX_JOINT_NAMES_55

    def __init__(
        self,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        facial_actions: bool = True,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if dtype not in (torch.float32, torch.float64):
            raise InputError(f"AnnyBody supports float32 or float64, not {dtype}")
        self.cache_dir = resolve_anny_cache_dir(cache_dir)
        model = build_anny_model(self.cache_dir, facial_actions)
        self.model = model.to(dtype)
        labels = list(model.bone_labels)
        self.bone_labels: tuple[str, ...] = tuple(labels)
        self.facial_action_labels: tuple[str, ...] = tuple(model.facial_action_labels)
        if tuple(model.phenotype_labels) != PHENOTYPE_LABELS:
            raise BodyModelError(
                f"unexpected Anny phenotype labels {model.phenotype_labels}; this ehps version "
                f"expects {list(PHENOTYPE_LABELS)} (anny 0.6.x)"
            )
        tables = _load_tables()
        if int(tables["num_vertices"]) != model.template_vertices.shape[0]:
            raise BodyModelError(
                f"the Anny landmark tables were built for {int(tables['num_vertices'])} vertices "
                f"but this anny version's mesh has {model.template_vertices.shape[0]}: "
                "regenerate them with `python scripts/build_anny_landmarks.py`"
            )
        self.tables = tables
        index = {b: i for i, b in enumerate(labels)}
        names = list(SMPLX_JOINT_NAMES_55)

        self.register_buffer("faces", model.faces.to(torch.int64).clone(), persistent=False)
        self.register_buffer("parents", torch.tensor(SMPLX_PARENTS_55), persistent=False)
        self.register_buffer(
            "anny_to_smplx", torch.tensor(ANNY_TO_SMPLX, dtype=dtype), persistent=False
        )
        self.register_buffer(
            "bone_driver", torch.tensor([names.index(d) for d in bone_drivers(labels)]),
            persistent=False,
        )  # fmt: skip
        # Joint positions: mean of bone heads (jaw row stays 0 and is filled separately).
        head_regressor = torch.zeros(55, len(labels), dtype=dtype)
        for j, (_, bones) in enumerate(SMPLX_JOINT_BONES):
            for b in bones:
                head_regressor[j, index[b]] = 1.0 / len(bones)
        self.register_buffer("joint_head_regressor", head_regressor, persistent=False)
        self.jaw_index = names.index("jaw")
        self.head_bone = index["head"]
        self.register_buffer(
            "tip_vertex_ids", torch.from_numpy(tables["tip_vertex_ids"]).long(), persistent=False
        )
        self.register_buffer(
            "jaw_vertex_ids", torch.from_numpy(tables["jaw_vertex_ids"]).long(), persistent=False
        )
        self.register_buffer(
            "jaw_vertex_weights", torch.from_numpy(tables["jaw_vertex_weights"]).to(dtype),
            persistent=False,
        )  # fmt: skip
        self.jaw_open_rad = float(tables["jaw_open_rad"])
        self.jaw_open_index = (
            self.facial_action_labels.index("jawOpen") if self.facial_action_labels else -1
        )
        self.calibration = TPoseCalibration(labels, list(model.bone_parents))
        # Forearm twist bones: (bone, its end point = the wrist head, elbow joint, wrist joint).
        self.twist_bones = [
            (index[f"lowerarm02.{s}"], index[f"wrist.{s}"], names.index(f"{side}_elbow"),
             names.index(f"{side}_wrist"))
            for side, s in (("left", "L"), ("right", "R"))
        ]  # fmt: skip
        from ehps.bodymodels.anny_landmarks import MediapipeRegressor

        self.mediapipe = MediapipeRegressor(tables, dtype=dtype)
        self.mediapipe_valid: dict[str, np.ndarray] = self.mediapipe.valid

    # ------------------------------------------------------------------ properties
    @property
    def num_vertices(self) -> int:
        return int(self.model.template_vertices.shape[0])

    @property
    def dtype(self) -> torch.dtype:
        return self.model.template_vertices.dtype

    @property
    def device(self) -> torch.device:
        return self.model.template_vertices.device

    # ------------------------------------------------------------------ input parsing
    def _batch_size(self, params: dict[str, torch.Tensor | None]) -> int:
        sizes = {int(v.shape[0]) for v in params.values() if v is not None and v.dim() > 0}
        if len(sizes) > 1:
            raise InputError(
                f"AnnyBody inputs disagree on the batch size ({sorted(sizes)}): give every "
                "tensor the same first dimension B"
            )
        return sizes.pop() if sizes else 1

    def _rotmats(self, value: torch.Tensor | None, key: str, n: int, batch: int) -> torch.Tensor:
        eye = torch.eye(3, dtype=self.dtype, device=self.device)
        if value is None:
            return eye.expand(batch, n, 3, 3)
        x = value.to(device=self.device, dtype=self.dtype)
        shape = tuple(x.shape)
        if shape in ((batch, n, 3, 3),) or (n == 1 and shape == (batch, 3, 3)):
            return x.reshape(batch, n, 3, 3)
        if shape in ((batch, n, 3), (batch, 3 * n)):
            return aa_to_rotmat(x.reshape(batch, n, 3))
        raise InputError(
            f"{key} has shape {shape}; expected axis-angle (B, {n}, 3) or (B, {3 * n}), or "
            f"rotation matrices (B, {n}, 3, 3)" + (" / (B, 3, 3)" if n == 1 else "")
        )

    def _vector(
        self, value: torch.Tensor | None, key: str, width: int, batch: int, default: float
    ) -> torch.Tensor:
        if value is None:
            return torch.full((batch, width), default, dtype=self.dtype, device=self.device)
        x = value.to(device=self.device, dtype=self.dtype)
        if tuple(x.shape) != (batch, width):
            raise InputError(f"{key} has shape {tuple(x.shape)}; expected (B, {width})")
        return x

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        global_orient: torch.Tensor | None = None,
        body_pose: torch.Tensor | None = None,
        left_hand_pose: torch.Tensor | None = None,
        right_hand_pose: torch.Tensor | None = None,
        jaw_pose: torch.Tensor | None = None,
        phenotype: torch.Tensor | None = None,
        facial_actions: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ) -> BodyModelOutput:
        """Pose and shape Anny.

        Args:
            global_orient: (B, 3) axis-angle or (B, 3, 3): rotation about the pelvis joint.
            body_pose: (B, 21, 3) / (B, 63) axis-angle or (B, 21, 3, 3): SMPL-X joints 1-21.
            left_hand_pose: (B, 15, 3) / (B, 45) or (B, 15, 3, 3): the person's left hand
                (SMPL-X joints 25-39: index, middle, pinky, ring, thumb; zero = flat hand).
            right_hand_pose: the same for the right hand (joints 40-54).
            jaw_pose: (B, 3) or (B, 3, 3); drives ``jawOpen`` (see the module docstring).
            phenotype: (B, 6) in [0, 1] over :data:`PHENOTYPE_LABELS`; default 0.5.
            facial_actions: (B, 52) in [0, 1] over :attr:`facial_action_labels`; default 0.
            transl: (B, 3) metres, added after the rotation.

        Returns:
            :class:`BodyModelOutput` in the SMPL-X frame, metres: ``vertices`` (B, 13718, 3),
            ``joints`` (B, 55, 3), ``joint_transforms`` (B, 55, 4, 4) (rotation = SMPL-X FK global
            rotation, translation = joint position), ``rotmats`` (B, 55, 3, 3) local rotations,
            ``extras``: ``bone_poses`` (B, 104, 4, 4) Anny bone frames in the SMPL-X frame,
            ``facial_actions`` (B, 52) the coefficients applied (``jaw_pose`` included),
            ``phenotype`` (B, 6).
        """
        inputs = {
            "global_orient": global_orient, "body_pose": body_pose, "jaw_pose": jaw_pose,
            "left_hand_pose": left_hand_pose, "right_hand_pose": right_hand_pose,
            "phenotype": phenotype, "facial_actions": facial_actions, "transl": transl,
        }  # fmt: skip
        for key, value in inputs.items():
            if value is not None and not isinstance(value, torch.Tensor):
                raise InputError(f"{key} must be a torch.Tensor, got {type(value).__name__}")
        batch = self._batch_size(inputs)
        dtype, device = self.dtype, self.device

        # Local SMPL-X rotations (eyes stay identity) and their FK.
        rotmats = torch.eye(3, dtype=dtype, device=device).repeat(batch, 55, 1, 1)
        for key, n, first in _POSE_KEYS:
            rotmats[:, first : first + n] = self._rotmats(inputs[key], key, n, batch)
        glob = smplx_global_rotations(rotmats, SMPLX_PARENTS_55)

        pheno = self._vector(phenotype, "phenotype", len(PHENOTYPE_LABELS), batch, 0.5)
        n_fa = len(self.facial_action_labels)
        if n_fa == 0 and facial_actions is not None:
            raise InputError(
                "this AnnyBody was built with facial_actions=False: rebuild it with "
                "AnnyBody(facial_actions=True) to use facial_actions"
            )
        face = self._vector(facial_actions, "facial_actions", n_fa, batch, 0.0)
        if n_fa and jaw_pose is not None:
            jaw = rotmats[:, 22]
            pitch = torch.atan2(jaw[:, 2, 1], jaw[:, 1, 1])
            opened = face[:, self.jaw_open_index] + pitch.clamp_min(0.0) / self.jaw_open_rad
            face = torch.cat(
                (face[:, : self.jaw_open_index], opened.clamp(0.0, 1.0)[:, None],
                 face[:, self.jaw_open_index + 1 :]), dim=1,
            )  # fmt: skip

        model = self.model
        warm_roma_cache(device)
        coeffs = model._get_phenotype_blendshape_coefficients(
            pheno, pheno.new_zeros(batch, 0), face
        )
        rest = model.get_rest_model(coeffs)
        rest_verts, rest_poses = rest["rest_vertices"], rest["rest_bone_poses"]
        f = self.anny_to_smplx
        heads = _to_smplx(rest["rest_bone_heads"])  # (B, N, 3) SMPL-X frame
        tips = _to_smplx(rest_verts[:, self.tip_vertex_ids])
        calib = self.calibration(heads, tips)  # (B, N, 3, 3)

        bone_rot = glob[:, self.bone_driver]  # (B, N, 3, 3)
        for bone, end, elbow, wrist in self.twist_bones:
            axis = (calib[:, bone] @ (heads[:, end] - heads[:, bone])[..., None])[..., 0]
            axis = axis / axis.norm(dim=-1, keepdim=True)
            angle = FOREARM_TWIST_SHARE * twist_angle(rotmats[:, wrist], axis)
            bone_rot[:, bone] = glob[:, elbow] @ aa_to_rotmat(axis * angle[:, None])
        bone_rot = bone_rot @ calib
        # World orientation of each Anny bone frame, in Anny's frame ('world-orient' pose).
        world = f.T @ bone_rot @ f @ rest_poses[..., :3, :3]
        delta = torch.zeros(batch, len(self.bone_labels), 4, 4, dtype=dtype, device=device)
        delta[..., :3, :3] = world
        delta[:, 0, :3, 3] = rest_poses[:, 0, :3, 3]
        delta[..., 3, 3] = 1.0
        transforms, bone_poses = model.get_bone_transforms(
            delta, rest_poses, pose_parameterization="world-orient"
        )
        verts = model.get_skinned_vertices(rest_verts, transforms)

        offset = (
            torch.zeros(batch, 1, 3, dtype=dtype, device=device)
            if transl is None
            else self._vector(transl, "transl", 3, batch, 0.0)[:, None]
        )
        vertices = _to_smplx(verts) + offset
        posed_heads = _to_smplx(bone_poses[..., :3, 3]) + offset
        joints = self.joint_head_regressor @ posed_heads
        rest_jaw = (rest_verts[:, self.jaw_vertex_ids] * self.jaw_vertex_weights[:, None]).sum(1)
        jaw_offset = _to_smplx(rest_jaw) - heads[:, self.head_bone]
        head_rot = bone_rot[:, self.head_bone]
        jaw_pos = posed_heads[:, self.head_bone] + (head_rot @ jaw_offset[..., None])[..., 0]
        joints = torch.cat(
            (joints[:, : self.jaw_index], jaw_pos[:, None], joints[:, self.jaw_index + 1 :]), 1
        )

        joint_transforms = torch.zeros(batch, 55, 4, 4, dtype=dtype, device=device)
        joint_transforms[..., :3, :3] = glob
        joint_transforms[..., :3, 3] = joints
        joint_transforms[..., 3, 3] = 1.0
        bone_world = torch.zeros_like(bone_poses)
        bone_world[..., :3, :3] = f @ bone_poses[..., :3, :3]
        bone_world[..., :3, 3] = posed_heads
        bone_world[..., 3, 3] = 1.0
        return BodyModelOutput(
            vertices=vertices,
            joints=joints,
            joint_transforms=joint_transforms,
            rotmats=rotmats,
            extras={"bone_poses": bone_world, "facial_actions": face, "phenotype": pheno},
        )

    # ------------------------------------------------------------------ landmarks
    def mediapipe_keypoints(self, output: BodyModelOutput) -> dict[str, torch.Tensor]:
        """Model points matching mediapipe's landmark topologies (see
        :mod:`ehps.bodymodels.anny_landmarks`).

        Args:
            output: a forward output of this model.

        Returns:
            ``"body"`` (B, 33, 3) (Pose), ``"left_hand"``/``"right_hand"`` (B, 21, 3) (Hands; the
            person's own left/right), ``"face"`` (B, 478, 3) (FaceMesh with irises), in the output
            frame. Points whose :attr:`mediapipe_valid` entry is False carry no meaning.
        """
        return self.mediapipe(output.vertices, output.joints)

    def extra_repr(self) -> str:
        return (
            f"vertices={self.num_vertices}, bones={len(self.bone_labels)}, "
            f"facial_actions={len(self.facial_action_labels)}, cache_dir={str(self.cache_dir)!r}"
        )


@functools.lru_cache(maxsize=4)
def load_anny(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    facial_actions: bool = True,
    dtype: torch.dtype = torch.float32,
) -> AnnyBody:
    """A shared :class:`AnnyBody` (built on the first call for given arguments, then reused).

    The returned module is shared: do not move it to another device or dtype in place.
    """
    return AnnyBody(cache_dir, facial_actions=facial_actions, dtype=dtype)
