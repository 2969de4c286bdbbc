"""Un-cropping network outputs: per-person cameras and one shared full-image camera.

A SMPLer-X / SMPLest-X network predicts each person in its own virtual camera (official-spec a.5):
focal 5000 px and principal point (96, 128) on the 192x256 body input, which in original-image
pixels is the per-person camera of :func:`person_intrinsics` (``fx = 5000 / 192 * w`` ...). The
official demo saved that translation (``transl``) with those intrinsics; every person then lives
in a different camera and several people of one frame do not form one 3D scene.

The *shared camera* is the image's own camera (given, or :meth:`Intrinsics.from_image_size`).
:func:`to_shared_camera` re-expresses a person's translation in it:

1. the anchor (the root joint, pelvis) in the person camera is ``P = a + t`` with ``a`` the
   anchor's model-frame position (pose-independent: the root rotation turns about it) and ``t``
   the person-camera translation; it projects to pixel ``u = K_p P``;
2. its shared-camera depth is ``z' = z * f_s / f_p`` with ``f = sqrt(fx * fy)`` of each camera,
   so that the apparent size at the anchor is kept (``f_s / z' = f_p / z``);
3. ``P' = z' * K_s^-1 [u, 1]`` (same pixel, new depth) and ``t_full = P' - a``.

The mesh is moved, not scaled or rotated. Exact: the anchor projects to the same pixel in both
cameras and the apparent size at the anchor's depth is the same. Approximate: points away from
the anchor in depth are foreshortened differently (relative error about their depth offset over
the distance), and the body keeps its orientation relative to the camera axes rather than to the
viewing ray (the crop camera looks straight at the person, the shared camera sees them off-axis).
:func:`from_shared_camera` is the exact inverse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ehps.errors import InputError
from ehps.geometry.camera import Intrinsics, crop_intrinsics_to_image, project_points

__all__ = [
    "person_intrinsics",
    "geometric_focal",
    "to_shared_camera",
    "from_shared_camera",
]


def person_intrinsics(crop_bbox_xywh: np.ndarray | Sequence[float]) -> Intrinsics:
    """The virtual crop camera of one person in original-image pixels (official-spec a.5).

    Args:
        crop_bbox_xywh: (4,) the *processed* crop box (aspect 3:4 after the ratio), pixels.
    """
    return crop_intrinsics_to_image(np.asarray(crop_bbox_xywh, np.float64))


def geometric_focal(k: Intrinsics) -> float:
    """``sqrt(fx * fy)`` in pixels: the focal length that sets apparent size."""
    return math.sqrt(float(k.fx) * float(k.fy))


def _kvec(k: Intrinsics) -> np.ndarray:
    return np.array([k.fx, k.fy, k.cx, k.cy], np.float64)


def _backproject(uv: np.ndarray, depth: np.ndarray, k: Intrinsics) -> np.ndarray:
    kv = _kvec(k)
    xy = (np.asarray(uv, np.float64) - kv[2:]) / kv[:2] * np.asarray(depth)[..., None]
    return np.concatenate([xy, np.asarray(depth, np.float64)[..., None]], axis=-1)


def to_shared_camera(
    transl: np.ndarray,
    anchor: np.ndarray,
    k_person: Intrinsics,
    k_shared: Intrinsics,
) -> np.ndarray:
    """Person-camera translation -> shared-camera translation (module docstring, steps 1-3).

    Args:
        transl: (3,) translation of the body model in the person camera, metres.
        anchor: (3,) the anchor's position in the body model's frame before translation (the root
            joint for SMPL-X: ``J_regressor[0] @ shaped rest vertices``), metres.
        k_person: the person camera in original-image pixels.
        k_shared: the shared full-image camera.

    Returns:
        (3,) float32 translation that places the same mesh in the shared camera.
    """
    return _change_camera(transl, anchor, k_person, k_shared, "its camera")


def from_shared_camera(
    transl_full: np.ndarray,
    anchor: np.ndarray,
    k_person: Intrinsics,
    k_shared: Intrinsics,
) -> np.ndarray:
    """Exact inverse of :func:`to_shared_camera`: shared-camera translation -> person camera."""
    return _change_camera(transl_full, anchor, k_shared, k_person, "the camera")


def _change_camera(
    transl: np.ndarray, anchor: np.ndarray, k_src: Intrinsics, k_dst: Intrinsics, seen_by: str
) -> np.ndarray:
    """(3,) translation in camera ``k_src`` -> (3,) float32 translation in ``k_dst`` that puts the
    anchor on the same pixel, its depth scaled by the focal ratio dst / src (metres).
    ``seen_by`` names the source camera in the error message."""
    t = np.asarray(transl, np.float64).reshape(3)
    a = np.asarray(anchor, np.float64).reshape(3)
    p = a + t
    if not p[2] > 0:
        raise InputError(f"the person is not in front of {seen_by} (root depth {p[2]:.3g} m)")
    uv = project_points(p, k_src.focal, k_src.princpt, eps=0.0)
    depth = p[2] * geometric_focal(k_dst) / geometric_focal(k_src)
    return (_backproject(uv, np.asarray(depth), k_dst) - a).astype(np.float32)
