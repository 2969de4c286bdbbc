"""GLB -> FBX with Blender's own importer and exporter (a stand-alone script: it imports nothing
from ehps, so it runs in any Python that has ``bpy``, or inside Blender).

    python blender_fbx.py IN.glb OUT.fbx [FPS]
    blender --background --python blender_fbx.py -- IN.glb OUT.fbx [FPS]

The scene frame rate is set to ``FPS`` before the import, so that one glTF keyframe lands on one
Blender frame; the FBX is written with baked animation, no leaf bones, y up / -z forward (FBX's
usual axes), and every bone (also those that move no vertex).
"""

from __future__ import annotations

import sys


def convert(glb: str, fbx: str, fps: float = 30.0) -> None:
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    rate = round(fps)
    scene.render.fps, scene.render.fps_base = rate, rate / fps
    bpy.ops.import_scene.gltf(filepath=glb)
    actions = list(bpy.data.actions)
    if actions:
        first, last = (int(v) for v in actions[0].frame_range)
        for act in actions[1:]:
            a, b = (int(v) for v in act.frame_range)
            first, last = min(first, a), max(last, b)
        scene.frame_start, scene.frame_end = first, last
    bpy.ops.export_scene.fbx(
        filepath=fbx, use_selection=False, object_types={"ARMATURE", "MESH"},
        add_leaf_bones=False, bake_anim=True, bake_anim_use_all_actions=False,
        bake_anim_use_nla_strips=False, bake_anim_simplify_factor=0.0, axis_forward="-Z",
        axis_up="Y", use_armature_deform_only=False, path_mode="AUTO",
    )


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    if len(argv) not in (2, 3):
        print("usage: blender_fbx.py IN.glb OUT.fbx [FPS]", file=sys.stderr)
        return 2
    convert(argv[0], argv[1], float(argv[2]) if len(argv) == 3 else 30.0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
