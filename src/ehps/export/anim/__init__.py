"""Rigged, animated exports of tracked people: glTF 2.0 binary (GLB), BVH and (through
Blender) FBX. See :mod:`ehps.export.anim.rig` for what a rig is made of, and
:mod:`ehps.export.anim.gltf` / :mod:`ehps.export.anim.bvh` for the file conventions."""

from __future__ import annotations

from ehps.utils.lazy import lazy_getattr

__all__ = ["Rig", "Clip", "build_rig", "pose_clip", "write_glb", "write_bvh", "Character"]

_LAZY = {
    "Rig": "ehps.export.anim.rig", "Clip": "ehps.export.anim.rig",
    "build_rig": "ehps.export.anim.rig", "pose_clip": "ehps.export.anim.rig",
    "write_glb": "ehps.export.anim.gltf", "Character": "ehps.export.anim.gltf",
    "write_bvh": "ehps.export.anim.bvh",
}  # fmt: skip
__getattr__ = lazy_getattr(__name__, _LAZY)
