"""Animated, skinned glTF 2.0 binary files (GLB) from :class:`~ehps.export.anim.rig.Rig` +
:class:`~ehps.export.anim.rig.Clip`, written with pygltflib.

Layout of a file (one or more characters, optionally a camera and a floor):

- per character, a joint node hierarchy (scene root = the skeleton's root joint) whose default
  transforms are the bind pose, a skinned mesh node (a scene root, as the glTF spec recommends)
  with inverse bind matrices, a material coloured like the overlay, morph targets (with
  ``extras.targetNames``) and their default weights 0;
- one animation ``"ehps"`` holding every channel: joint rotations (LINEAR, unit quaternions, sign
  made continuous), the root translation, the translation of any other joint whose offset to its
  parent is not constant (SMPL-X jaw and eyes follow the expression), morph weights, and in
  scene files a STEP scale channel on each root that hides a person outside their track (scale 0);
- keyframes at ``(frame_index - time_origin) / fps`` seconds: one per video frame.

glTF is y-up, metres; the transforms given are written as they are (pass world transforms in a
y-up frame). The skin keeps every influence of the body model (several ``JOINTS_n/WEIGHTS_n``
sets, largest weights in set 0); clients limited to four influences renormalise set 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ehps.export.anim.rig import Clip, Rig
from ehps.utils.io import atomic_write_bytes

__all__ = ["Character", "SceneCamera", "write_glb", "local_transforms", "matrix_to_quat"]

_FLOAT, _UINT, _USHORT, _UBYTE = 5126, 5125, 5123, 5121
_ARRAY, _ELEMENTS = 34962, 34963
_TYPE = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4", 16: "MAT4"}
#: Largest deviation (metres) of a joint's offset from its bind offset that needs no channel
#: (float32 body-model outputs wobble by ~1e-5 m under large rotations).
_CONST_TOL = 5e-5


@dataclass
class Character:
    """One animated person of a GLB.

    Attributes:
        rig, clip: the skinned body and its animation (``clip.transforms`` in a y-up frame).
        name: node name prefix (e.g. ``"track_03"``).
        color: (3,) linear RGB in [0, 1] of the material.
        joint_names: names for the joint nodes (default ``rig.joint_names``).
        hide_outside: animate the root scale to 0 before the first and after the last frame.
    """

    rig: Rig
    clip: Clip
    name: str
    color: tuple[float, float, float] = (0.7, 0.7, 0.7)
    joint_names: tuple[str, ...] | None = None
    hide_outside: bool = False


@dataclass
class SceneCamera:
    """The video camera as a glTF perspective camera.

    Attributes:
        world_from_camera: (4, 4) pose of the OpenCV camera (x right, y down, z forward) in the
            y-up world.
        yfov: vertical field of view (radians); ``aspect``: width / height.
    """

    world_from_camera: np.ndarray
    yfov: float
    aspect: float


def matrix_to_quat(rot: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (x, y, z, w), w >= 0."""
    from scipy.spatial.transform import Rotation

    shape = rot.shape[:-2]
    q = Rotation.from_matrix(np.asarray(rot, np.float64).reshape(-1, 3, 3)).as_quat()
    q *= np.where(q[:, 3:] < 0, -1.0, 1.0)
    return q.reshape(*shape, 4)


def _continuous(q: np.ndarray) -> np.ndarray:
    """(T, ..., 4) quaternions with signs flipped so that consecutive keys have dot >= 0."""
    q = q.copy()
    for t in range(1, q.shape[0]):
        flip = (q[t] * q[t - 1]).sum(-1) < 0
        q[t][flip] *= -1.0
    return q


def _inv_rigid(m: np.ndarray) -> np.ndarray:
    out = np.zeros_like(m)
    rt = np.swapaxes(m[..., :3, :3], -1, -2)
    out[..., :3, :3] = rt
    out[..., :3, 3] = -(rt @ m[..., :3, 3:])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def local_transforms(parents: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """(..., J, 4, 4) world transforms -> parent-relative ones (the root's stays its world)."""
    par = np.asarray(parents)
    out = transforms.copy()
    child = np.flatnonzero(par >= 0)
    out[..., child, :, :] = _inv_rigid(transforms[..., par[child], :, :]) @ transforms[
        ..., child, :, :]
    return out


@dataclass
class _Builder:
    """Accumulates buffer views and accessors into one binary chunk."""

    blob: bytearray = field(default_factory=bytearray)
    views: list[Any] = field(default_factory=list)
    accessors: list[Any] = field(default_factory=list)

    def view(self, data: np.ndarray, target: int | None = None) -> int:
        import pygltflib as g

        while len(self.blob) % 4:
            self.blob.append(0)
        raw = np.ascontiguousarray(data).tobytes()
        self.views.append(g.BufferView(buffer=0, byteOffset=len(self.blob), byteLength=len(raw),
                                       target=target))
        self.blob.extend(raw)
        return len(self.views) - 1

    def accessor(self, data: np.ndarray, ctype: int, width: int, target: int | None = None,
                 minmax: bool = False, name: str | None = None) -> int:
        import pygltflib as g

        arr = np.asarray(data)
        count = arr.shape[0]
        acc = g.Accessor(bufferView=self.view(arr, target), byteOffset=None, componentType=ctype,
                         count=count, type=_TYPE[width], name=name)
        if minmax:
            flat = arr.reshape(count, width)
            acc.min = [float(v) for v in flat.min(0)]
            acc.max = [float(v) for v in flat.max(0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1

    def sparse_vec3(self, deltas: np.ndarray, name: str | None = None) -> int:
        """A (V, 3) float accessor stored sparsely (only non-zero rows)."""
        import pygltflib as g

        rows = np.flatnonzero(np.abs(deltas).max(1) > 0).astype(np.uint32)
        acc = g.Accessor(bufferView=None, byteOffset=None, componentType=_FLOAT,
                         count=int(deltas.shape[0]), type="VEC3", name=name)
        d = deltas.astype(np.float32)
        acc.min = [float(v) for v in d.min(0)]
        acc.max = [float(v) for v in d.max(0)]
        if len(rows):
            acc.sparse = g.Sparse(
                count=int(len(rows)),
                indices=g.AccessorSparseIndices(bufferView=self.view(rows), byteOffset=None,
                                                componentType=_UINT),
                values=g.AccessorSparseValues(bufferView=self.view(d[rows]), byteOffset=None),
            )
        self.accessors.append(acc)
        return len(self.accessors) - 1


def _add_character(gl: Any, b: _Builder, ch: Character, channels: list[tuple[int, str, int]],
                   samplers: list[Any], time_origin: int, material: int, prefix: str
                   ) -> list[int]:
    """Add the nodes, mesh, skin and animation channels of one character; returns its roots."""
    import pygltflib as g

    rig, clip = ch.rig, ch.clip
    names = ch.joint_names or rig.joint_names
    first = len(gl.nodes)
    bind_local = local_transforms(rig.parents, rig.bind)
    for j in range(rig.num_joints):
        q = matrix_to_quat(bind_local[j, :3, :3])
        gl.nodes.append(g.Node(name=prefix + names[j],
                               translation=[float(v) for v in bind_local[j, :3, 3]],
                               rotation=[float(v) for v in q]))
    for j, p in enumerate(rig.parents.tolist()):
        if p >= 0:
            gl.nodes[first + p].children.append(first + j)

    # Mesh: positions, normals, skin sets, morph targets.
    attrs: dict[str, int] = {
        "POSITION": b.accessor(rig.vertices.astype(np.float32), _FLOAT, 3, _ARRAY, minmax=True),
        "NORMAL": b.accessor(rig.normals.astype(np.float32), _FLOAT, 3, _ARRAY),
    }
    jtype, jdt = (_UBYTE, np.uint8) if rig.num_joints <= 256 else (_USHORT, np.uint16)
    for s in range(rig.skin_joints.shape[1] // 4):
        cols = slice(4 * s, 4 * s + 4)
        attrs[f"JOINTS_{s}"] = b.accessor(rig.skin_joints[:, cols].astype(jdt), jtype, 4, _ARRAY)
        attrs[f"WEIGHTS_{s}"] = b.accessor(rig.skin_weights[:, cols].astype(np.float32), _FLOAT,
                                           4, _ARRAY)
    targets = [g.Attributes(POSITION=b.sparse_vec3(d)) for d in rig.morph_deltas]
    indices = b.accessor(rig.faces.reshape(-1).astype(np.uint32), _UINT, 1, _ELEMENTS)
    prim = g.Primitive(attributes=g.Attributes(**attrs), indices=indices, material=material,
                       targets=targets)
    mesh = g.Mesh(name=ch.name, primitives=[prim], weights=[0.0] * len(targets),
                  extras={"targetNames": list(rig.morph_names)} if targets else {})
    gl.meshes.append(mesh)
    ibm = _inv_rigid(rig.bind).transpose(0, 2, 1).astype(np.float32)  # column-major
    gl.skins.append(g.Skin(name=ch.name, joints=list(range(first, first + rig.num_joints)),
                           skeleton=first, inverseBindMatrices=b.accessor(ibm, _FLOAT, 16)))
    mesh_node = len(gl.nodes)
    gl.nodes.append(g.Node(name=f"{ch.name}_mesh", mesh=len(gl.meshes) - 1,
                           skin=len(gl.skins) - 1))

    # Animation.
    times = ((clip.frame_index - time_origin) / clip.fps).astype(np.float32)
    t_acc = b.accessor(times, _FLOAT, 1, minmax=True)
    local = local_transforms(rig.parents, clip.transforms)
    quats = _continuous(matrix_to_quat(local[..., :3, :3])).astype(np.float32)

    def channel(node: int, path: str, values: np.ndarray, width: int, interp: str = "LINEAR",
                inp: int = t_acc) -> None:
        samplers.append(g.AnimationSampler(input=inp, output=b.accessor(
            values.astype(np.float32), _FLOAT, width), interpolation=interp))
        channels.append((len(samplers) - 1, path, node))

    for j in range(rig.num_joints):
        channel(first + j, "rotation", quats[:, j], 4)
        moved = np.abs(local[:, j, :3, 3] - bind_local[j, :3, 3]).max()
        if j == 0 or moved > _CONST_TOL:
            channel(first + j, "translation", local[:, j, :3, 3], 3)
    if len(targets):
        channel(mesh_node, "weights", clip.morph_weights.reshape(-1), 1)
    if ch.hide_outside:
        dt = 0.5 / clip.fps
        keys = np.array([max(0.0, times[0] - dt), times[0], times[-1] + dt], np.float32)
        if keys[0] >= keys[1]:
            keys, scale = keys[1:], np.array([[1, 1, 1], [0, 0, 0]], np.float32)
        else:
            scale = np.array([[0, 0, 0], [1, 1, 1], [0, 0, 0]], np.float32)
        channel(first, "scale", scale, 3, "STEP", b.accessor(keys, _FLOAT, 1, minmax=True))
    return [first, mesh_node]


def _add_camera(gl: Any, cam: SceneCamera) -> int:
    import pygltflib as g

    m = np.asarray(cam.world_from_camera, np.float64)
    rot = m[:3, :3] @ np.diag([1.0, -1.0, -1.0])  # OpenCV camera axes -> glTF camera axes
    gl.cameras.append(g.Camera(name="video_camera", type="perspective",
                               perspective=g.Perspective(yfov=float(cam.yfov),
                                                         aspectRatio=float(cam.aspect),
                                                         znear=0.05, zfar=1000.0)))
    gl.nodes.append(g.Node(name="video_camera", camera=len(gl.cameras) - 1,
                           translation=[float(v) for v in m[:3, 3]],
                           rotation=[float(v) for v in matrix_to_quat(rot)]))
    return len(gl.nodes) - 1


def _add_floor(gl: Any, b: _Builder, extent: tuple[float, float, float, float]) -> int:
    """A y = 0 quad over ``(x0, z0, x1, z1)`` (metres)."""
    import pygltflib as g

    x0, z0, x1, z1 = extent
    pos = np.array([[x0, 0, z0], [x0, 0, z1], [x1, 0, z1], [x1, 0, z0]], np.float32)
    nrm = np.tile(np.array([0, 1, 0], np.float32), (4, 1))
    gl.materials.append(g.Material(name="floor", pbrMetallicRoughness=g.PbrMetallicRoughness(
        baseColorFactor=[0.55, 0.55, 0.55, 1.0], metallicFactor=0.0, roughnessFactor=0.9)))
    prim = g.Primitive(
        attributes=g.Attributes(POSITION=b.accessor(pos, _FLOAT, 3, _ARRAY, minmax=True),
                                NORMAL=b.accessor(nrm, _FLOAT, 3, _ARRAY)),
        indices=b.accessor(np.array([0, 1, 2, 0, 2, 3], np.uint32), _UINT, 1, _ELEMENTS),
        material=len(gl.materials) - 1)
    gl.meshes.append(g.Mesh(name="floor", primitives=[prim]))
    gl.nodes.append(g.Node(name="floor", mesh=len(gl.meshes) - 1))
    return len(gl.nodes) - 1


def write_glb(
    path: str | Path,
    characters: list[Character],
    *,
    time_origin: int | None = None,
    camera: SceneCamera | None = None,
    floor_extent: tuple[float, float, float, float] | None = None,
    extras: dict[str, Any] | None = None,
) -> Path:
    """Write an animated GLB (atomically).

    Args:
        path: output ``.glb`` file.
        characters: the people (at least one).
        time_origin: video frame at time 0 (default: the first frame of the first character).
        camera: add the video camera; ``floor_extent``: add a floor quad ``(x0, z0, x1, z1)``.
        extras: JSON-serialisable metadata stored in ``asset.extras["ehps"]``.

    Returns:
        ``path``.
    """
    import pygltflib as g

    from ehps import __version__

    if not characters:
        raise ValueError("write_glb needs at least one character")
    origin = int(characters[0].clip.frame_index[0]) if time_origin is None else int(time_origin)
    gl = g.GLTF2(asset=g.Asset(generator=f"ehps {__version__} (pygltflib)",
                               extras={"ehps": json.loads(json.dumps(extras or {}))}))
    b = _Builder()
    roots: list[int] = []
    channels: list[tuple[int, str, int]] = []
    samplers: list[Any] = []
    for ch in characters:
        gl.materials.append(g.Material(name=f"{ch.name}_skin", pbrMetallicRoughness=(
            g.PbrMetallicRoughness(baseColorFactor=[*map(float, ch.color), 1.0],
                                   metallicFactor=0.0, roughnessFactor=0.6))))
        prefix = f"{ch.name}_" if len(characters) > 1 else ""
        roots += _add_character(gl, b, ch, channels, samplers, origin, len(gl.materials) - 1,
                                prefix)
    if camera is not None:
        roots.append(_add_camera(gl, camera))
    if floor_extent is not None:
        roots.append(_add_floor(gl, b, floor_extent))
    gl.animations.append(g.Animation(name="ehps", samplers=samplers, channels=[
        g.AnimationChannel(sampler=s, target=g.AnimationChannelTarget(node=n, path=p))
        for s, p, n in channels]))
    gl.scenes.append(g.Scene(name="ehps", nodes=roots))
    gl.scene = 0
    while len(b.blob) % 4:
        b.blob.append(0)
    gl.bufferViews, gl.accessors = b.views, b.accessors
    gl.buffers.append(g.Buffer(byteLength=len(b.blob)))
    gl.set_binary_blob(bytes(b.blob))
    path = Path(path)
    atomic_write_bytes(path, b"".join(gl.save_to_bytes()))
    return path
