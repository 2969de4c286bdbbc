"""BVH (Biovision hierarchy) motion files from a :class:`~ehps.export.anim.rig.Rig` +
:class:`~ehps.export.anim.rig.Clip`.

Conventions of the files written here (the reader in ``tests/export/bvh_reader.py`` and Blender's
importer read them the same way):

- The rest pose is the rig's bind pose (SMPL-X: T-pose; Anny: its A-pose), rotated into the
  file's axes by ``rest_rotation``: identity for y-up files, a quarter turn about x for z-up ones.
  Every joint's rest orientation is the identity, as BVH requires; ``OFFSET`` is the joint's rest
  position relative to its parent, in the file's axes.
- Channels: the root has ``Xposition Yposition Zposition Zrotation Xrotation Yrotation`` (its
  absolute position in the world, then its rotation); other joints ``Zrotation Xrotation
  Yrotation`` (local rotation = Rz @ Rx @ Ry, degrees). A joint whose offset to its parent
  changes over the clip (SMPL-X's jaw, whose rest position follows the expression by a few
  millimetres) gets its mean offset: BVH readers disagree on position channels below the root
  (Blender reads them relative to the joint's rest position in the world), so none are written;
  :func:`write_bvh` reports the largest resulting joint error and the header comment states it.
- Units: metres by default (Blender's importer then makes a life-size armature with its
  default scale 1); ``unit="cm"`` multiplies every length by 100.
- ``Frame Time`` is ``1 / fps``: one frame per video frame.
- BVH has no face: expressions / facial actions are not in the file. ``#`` comment lines right
  after ``HIERARCHY`` say so (Blender's importer needs ``HIERARCHY`` on the first line and skips
  lines it does not know inside the hierarchy).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ehps.export.anim.rig import Clip, Rig
from ehps.utils.io import atomic_write_text

__all__ = ["write_bvh", "euler_zxy", "BVH_ROTATION_ORDER"]

#: Rotation channel order of every joint (local rotation = Rz @ Rx @ Ry).
BVH_ROTATION_ORDER = ("Z", "X", "Y")
_UNITS = {"m": 1.0, "cm": 100.0}
_CONST_TOL = 5e-5


def euler_zxy(rot: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations -> (T, 3) angles (z, x, y) in degrees with ``R = Rz Rx Ry``, made
    continuous over T (each frame picks, of the two equivalent solutions, the one nearest the
    previous frame, unwrapped by multiples of 360)."""
    from scipy.spatial.transform import Rotation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gimbal lock: still an exact solution
        a = Rotation.from_matrix(np.asarray(rot, np.float64)).as_euler("ZXY", degrees=True)
    alt = np.stack([a[:, 0] + 180.0, 180.0 - a[:, 1], a[:, 2] + 180.0], axis=1)
    out = np.empty_like(a)
    prev = None
    for t in range(a.shape[0]):
        best = None
        for cand in (a[t], alt[t]):
            c = cand if prev is None else cand + 360.0 * np.round((prev - cand) / 360.0)
            dist = 0.0 if prev is None else float(np.abs(c - prev).sum())
            if best is None or dist < best[0]:
                best = (dist, c)
        assert best is not None
        out[t] = prev = best[1]
    return out


def _inv_rot(m: np.ndarray) -> np.ndarray:
    return np.swapaxes(m, -1, -2)


def write_bvh(
    path: str | Path,
    rig: Rig,
    clip: Clip,
    *,
    rest_rotation: np.ndarray | None = None,
    joint_names: tuple[str, ...] | None = None,
    unit: str = "m",
    comment: str = "",
) -> Path:
    """Write one track as a BVH file (atomically).

    Args:
        path: output ``.bvh`` file.
        rig, clip: the skeleton and its animation; ``clip.transforms`` in the file's world axes.
        rest_rotation: (3, 3) rotation from the rig's bind frame (SMPL-X model frame, y up) to
            the file's axes (identity for y-up files).
        joint_names: names to write (default ``rig.joint_names``); no spaces.
        unit: ``"m"`` or ``"cm"``.
        comment: extra ``#`` header lines (one per line of text).

    Returns:
        ``path``.
    """
    if unit not in _UNITS:
        raise ValueError(f"unit must be 'm' or 'cm', not {unit!r}")
    scale = _UNITS[unit]
    r0 = np.eye(3) if rest_rotation is None else np.asarray(rest_rotation, np.float64)
    names = joint_names or rig.joint_names
    if any(not n or any(c.isspace() for c in n) for n in names):
        raise ValueError("BVH joint names must be non-empty and without spaces")
    par = rig.parents
    n_j = rig.num_joints
    rest = rig.bind[:, :3, 3] @ r0.T  # rest joint positions in the file's axes
    offsets = rest.copy()
    offsets[1:] = rest[1:] - rest[par[1:]]
    offsets[0] = rest[0]

    g = clip.transforms
    delta = g[..., :3, :3] @ _inv_rot(rig.bind[:, :3, :3]) @ r0.T  # (T, J, 3, 3) world deltas
    local_rot = delta.copy()
    local_rot[:, 1:] = _inv_rot(delta[:, par[1:]]) @ delta[:, 1:]
    # Joint positions relative to the parent joint, in the parent's (delta-rotated) frame.
    pos = g[..., :3, 3]
    rel = pos[:, 1:] - pos[:, par[1:]]
    local_pos = np.concatenate(
        [pos[:, :1], (_inv_rot(delta[:, par[1:]]) @ rel[..., None])[..., 0]], axis=1)
    varies = np.abs(local_pos - offsets[None]).max(0).max(-1) > _CONST_TOL
    varies[0] = False
    offsets[varies] = local_pos[:, varies].mean(0)
    # The error of a fixed offset: its largest distance from the true local position.
    drift = float(np.linalg.norm(local_pos[:, varies] - offsets[None, varies], axis=-1).max(
        initial=0.0))
    children: list[list[int]] = [[] for _ in range(n_j)]
    for j in range(1, n_j):
        children[par[j]].append(j)

    lines: list[str] = ["HIERARCHY"]
    lines += [f"# {line}" for line in comment.splitlines() if line.strip()]
    lines += ["# ehps BVH export: BVH has no face, so expression / facial-action morph targets "
              "are not in this file (see the GLB export).",
              f"# units: {unit}; rotations: degrees, local = Rz @ Rx @ Ry; the root's position "
              "channels are its world position."]
    if varies.any():
        which = ", ".join(names[j] for j in np.flatnonzero(varies))
        lines.append(f"# {which}: mean offset kept, up to {drift * 1000:.2f} mm from the body "
                     "model (its rest position follows the expression).")
    order: list[int] = []

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if j == 0 else 'JOINT'} {names[j]}")
        lines.append(f"{pad}{{")
        o = offsets[j] * scale
        lines.append(f"{pad}  OFFSET {o[0]:.6f} {o[1]:.6f} {o[2]:.6f}")
        chans = (["Xposition", "Yposition", "Zposition"] if j == 0 else []) + [
            f"{a}rotation" for a in BVH_ROTATION_ORDER]
        lines.append(f"{pad}  CHANNELS {len(chans)} {' '.join(chans)}")
        order.append(j)
        for c in children[j]:
            emit(c, depth + 1)
        if not children[j]:
            d = offsets[j] if j and np.linalg.norm(offsets[j]) > 1e-6 else np.array([0, 1.0, 0])
            end = d / np.linalg.norm(d) * 0.05 * scale
            lines.extend([f"{pad}  End Site", f"{pad}  {{",
                          f"{pad}    OFFSET {end[0]:.6f} {end[1]:.6f} {end[2]:.6f}", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    n_t = g.shape[0]
    cols = []
    for j in order:
        if j == 0:
            cols.append(local_pos[:, j] * scale)
        cols.append(euler_zxy(local_rot[:, j]))
    motion = np.concatenate(cols, axis=1)
    lines += ["MOTION", f"Frames: {n_t}", f"Frame Time: {1.0 / clip.fps:.8f}"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in motion]
    path = Path(path)
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
