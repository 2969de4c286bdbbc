"""The world frame of a static-camera sequence, and the camera's pose in it.

With a floor (:class:`~ehps.world.floor.FloorFit`):

- ``up="y"`` (glTF's convention): +Y is the floor normal (up), +X the camera's x axis (image
  right) projected onto the floor, +Z = X x Y points from the scene towards the camera; the floor
  is ``Y = 0``.
- ``up="z"`` (Blender / many BVH tools): +Z up, +X the same, +Y = Z x X points away from the
  camera (Blender's front view looks along +Y); the floor is ``Z = 0``.
- The origin lies on the floor under the first person's pelvis at their first frame.

Without a floor the world is the camera frame itself, only relabelled to the chosen convention
(origin at the camera, up = the image's up direction, which is *not* known to be vertical).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ehps.world.floor import FloorFit

__all__ = ["WorldFrame", "make_world_frame", "Z_UP_FROM_Y_UP", "camera_angles", "rigid_inverse"]

#: (3, 3) rotation from the y-up world to the z-up world: (x, y, z) -> (x, -z, y).
Z_UP_FROM_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
_GLTF_FROM_OPENCV = np.diag([1.0, -1.0, -1.0])


def rigid_inverse(m: np.ndarray) -> np.ndarray:
    """(4, 4) inverse of a rigid transform ``[R | t]``: ``[R^T | -R^T t]``."""
    out = np.eye(4)
    out[:3, :3] = m[:3, :3].T
    out[:3, 3] = -m[:3, :3].T @ m[:3, 3]
    return out


@dataclass
class WorldFrame:
    """A world frame and how to get there from the camera.

    Attributes:
        up: ``"y"`` or ``"z"``.
        world_from_camera: (4, 4) rigid transform, camera points (OpenCV axes, metres) -> world.
        floor: the floor fit; ``None`` or a failed fit (``ok`` False, with its ``reason``) when
            the world is the (relabelled) camera frame.
        origin_track, origin_frame: whose pelvis the origin is under (``-1`` without a floor).
    """

    up: str
    world_from_camera: np.ndarray
    floor: FloorFit | None = None
    origin_track: int = -1
    origin_frame: int = -1

    @property
    def has_floor(self) -> bool:
        return self.floor is not None and self.floor.ok

    @property
    def camera_from_world(self) -> np.ndarray:
        return rigid_inverse(self.world_from_camera)

    def points(self, p_cam: np.ndarray) -> np.ndarray:
        """(..., 3) camera points -> world points."""
        m = self.world_from_camera
        return np.asarray(p_cam) @ m[:3, :3].T + m[:3, 3]

    def with_up(self, up: str) -> WorldFrame:
        """The same world in the other up convention."""
        if up == self.up:
            return self
        change = np.eye(4)
        change[:3, :3] = Z_UP_FROM_Y_UP if up == "z" else Z_UP_FROM_Y_UP.T
        return WorldFrame(up, change @ self.world_from_camera, self.floor, self.origin_track,
                          self.origin_frame)

    def up_vector(self) -> np.ndarray:
        return np.array([0.0, 1.0, 0.0]) if self.up == "y" else np.array([0.0, 0.0, 1.0])


def make_world_frame(floor: FloorFit | None, origin_cam: np.ndarray | None, up: str = "y",
                     origin_track: int = -1, origin_frame: int = -1) -> WorldFrame:
    """Build the world frame (see the module docstring).

    Args:
        floor: the floor, or ``None`` / a failed fit for the camera-frame fallback.
        origin_cam: (3,) camera-frame point whose floor projection is the origin (the first
            person's pelvis); ignored without a floor.
        up: ``"y"`` or ``"z"``.
    """
    if up not in ("y", "z"):
        raise ValueError(f"up must be 'y' or 'z', not {up!r}")
    m = np.eye(4)
    if floor is None or not floor.ok:
        m[:3, :3] = _GLTF_FROM_OPENCV
        return WorldFrame("y", m, floor).with_up(up)  # a failed fit keeps its reason
    n = floor.normal / np.linalg.norm(floor.normal)
    x = np.array([1.0, 0.0, 0.0]) - n[0] * n
    if np.linalg.norm(x) < 1e-3:  # camera rolled by 90 degrees: use its forward axis instead
        x = np.cross(n, np.array([0.0, 0.0, 1.0]))
    x /= np.linalg.norm(x)
    z = np.cross(x, n)
    rot = np.stack([x, n, z])
    o = np.zeros(3) if origin_cam is None else np.asarray(origin_cam, np.float64)
    o = o - floor.height(o) * n
    m[:3, :3] = rot
    m[:3, 3] = -rot @ o
    return WorldFrame("y", m, floor, origin_track, origin_frame).with_up(up)


def camera_angles(frame: WorldFrame) -> dict[str, float]:
    """Camera height above the floor (m), its pitch below the horizon and roll (degrees)."""
    if not frame.has_floor:
        return {}
    assert frame.floor is not None
    n = frame.floor.normal
    fwd = np.array([0.0, 0.0, 1.0])
    pitch = np.degrees(np.arcsin(np.clip(-fwd @ n, -1.0, 1.0)))  # looking down: positive
    right = np.array([1.0, 0.0, 0.0])
    roll = np.degrees(np.arcsin(np.clip(right @ n, -1.0, 1.0)))
    return {"height_m": float(frame.floor.offset), "pitch_down_deg": float(pitch),
            "roll_deg": float(roll)}
