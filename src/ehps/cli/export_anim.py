"""``ehps export anim SEQUENCE... [--formats glb bvh fbx]``: the world frame, foot-skate cleanup
and rigged animation files of finished ``ehps infer`` sequences (a post-processing step: it reads
``tracks.npz`` / the frame records and writes ``world.json``, the world arrays in ``tracks.npz``
and ``anim/*``). Exit status: 0, 3 when some tracks or files could not be written (listed), 2 for
usage errors."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register", "run"]


def register(formats: argparse._SubParsersAction) -> None:
    from ehps.cli.options import add_smplx_dir

    p = formats.add_parser(
        "anim",
        help="world frame, foot-skate cleanup and animated GLB / BVH / FBX of tracked people",
        description=(
            "Post-process sequence folders written by `ehps infer` (a video's folder, or the "
            "output folder of --sequence images): fit the floor to the people's feet, express "
            "everything in a world frame (y or z up, floor at 0), detect foot contacts, clean "
            "the foot skate, and write world.json, world arrays in tracks.npz and rigged, "
            "animated files per track (anim/track_XX.glb/.bvh/.fbx) plus anim/scene.glb."
        ),
    )
    p.add_argument("sequences", nargs="+", metavar="SEQUENCE",
                   help="sequence folders (the folder holding tracks.npz)")
    p.add_argument("--formats", nargs="+", default=["glb", "bvh"], metavar="FMT",
                   help="glb, bvh and/or fbx (fbx needs Blender's bpy; default: glb bvh)")
    p.add_argument("--out", default=None,
                   help="folder for the animation files (default: <SEQUENCE>/anim)")
    p.add_argument("--up", choices=("y", "z"), default="y",
                   help="up axis of world.json, the world arrays and BVH (GLB is always y up, "
                        "as glTF requires); default y")
    p.add_argument("--no-cleanup", action="store_true", help="keep the feet as estimated")
    p.add_argument("--humanoid", action="store_true",
                   help="Mixamo-style joint names (Unity / Unreal humanoid retargeting)")
    p.add_argument("--bvh-unit", choices=("m", "cm"), default="m", help="BVH lengths")
    p.add_argument("--no-scene", action="store_true", help="no scene.glb")
    add_smplx_dir(p, dest="smplx_path", help="SMPL-X model folder for SMPL-X tracks (else "
                                             "$EHPS_BODY_MODELS, then the user data dir)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ehps.errors import EhpsError
    from ehps.world.animation import animate_sequence, check_formats

    formats = check_formats(args.formats)  # stops here (one line) for a missing extra
    failures = 0
    for seq in args.sequences:
        try:
            lines, bad = animate_sequence(
                seq, formats, up=args.up, cleanup=not args.no_cleanup, humanoid=args.humanoid,
                bvh_unit=args.bvh_unit, scene=not args.no_scene,
                out=None if args.out is None else (
                    Path(args.out) / Path(seq).name if len(args.sequences) > 1 else args.out),
                smplx_path=args.smplx_path)
        except EhpsError as exc:
            print(f"{seq}: {exc}")
            failures += 1
            continue
        print("\n".join(lines))
        failures += len(bad)
    return 3 if failures else 0
