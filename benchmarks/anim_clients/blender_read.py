"""Blender side of benchmarks/anim_clients.py (runs in a Python that has ``bpy``; no ehps).

Imports each file headless with Blender's own importers (glTF, BVH, FBX), steps the scene to the
requested frames and prints, as JSON on the last stdout line, every armature bone's head in world
coordinates (Blender: z up, metres) per frame:

    python blender_read.py --fps 25 --frames 0 1 2 FILE.glb FILE.bvh FILE.fbx

Frame mapping (documented conventions): a glTF keyframe at t seconds lands on Blender frame
``t * fps`` (the importer's rule, with the scene's fps set first); BVH frame k on Blender frame
``k + 1`` (``frame_start=1``); FBX keeps its times (``anim_offset=0``: the importer's default
shifts animations by one frame).
BVH axes: the importer's default ``axis_forward='-Z', axis_up='Y'`` (a y-up file) maps file
(x, y, z) to Blender (x, -z, y), the same as glTF's y-up to Blender's z-up.
"""

from __future__ import annotations

import argparse
import json
import sys


def _read(path: str, fps: float, frames: list[int]) -> dict:
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = int(round(fps)), 1.0
    offset = 0
    if path.endswith(".glb"):
        bpy.ops.import_scene.gltf(filepath=path)
    elif path.endswith(".bvh"):
        bpy.ops.import_anim.bvh(filepath=path, axis_forward="-Z", axis_up="Y", global_scale=1.0,
                                frame_start=1, use_fps_scale=False, update_scene_fps=False,
                                rotate_mode="NATIVE")
        offset = 1
    elif path.endswith(".fbx"):
        bpy.ops.import_scene.fbx(filepath=path, axis_forward="-Z", axis_up="Y",
                                 use_anim=True, ignore_leaf_bones=False, anim_offset=0.0)
    else:
        raise ValueError(path)
    arms = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    out: dict = {"armatures": {}, "blender": bpy.app.version_string, "offset": offset}
    for k in frames:
        scene.frame_set(k + offset)
        for arm in arms:
            bones = out["armatures"].setdefault(arm.name, {})
            for b in arm.pose.bones:
                p = arm.matrix_world @ b.head
                bones.setdefault(b.name, []).append([p.x, p.y, p.z])
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fps", type=float, required=True)
    ap.add_argument("--frames", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    result = {f: _read(f, args.fps, args.frames) for f in args.files}
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
