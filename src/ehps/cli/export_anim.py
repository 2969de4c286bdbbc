"""``ehps export anim SEQUENCE... [--formats glb bvh fbx]``: the world frame, foot-skate cleanup
and rigged animation files of finished ``ehps infer`` sequences (a post-processing step: it reads
``tracks.npz`` / the frame records and writes ``world.json``, the world arrays in ``tracks.npz``
and ``anim/*``). Exit status: 0, 3 when some tracks or files could not be written (listed), 2 for
usage errors."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register", "run", "run_sequence"]


def register(formats: argparse._SubParsersAction) -> None:
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
    p.add_argument("--smplx-path", default=None, help="SMPL-X model folder (SMPL-X tracks)")
    p.set_defaults(func=run)


def run_sequence(folder: str | Path, formats: list[str] | tuple[str, ...], *, up: str = "y",
                 cleanup: bool = True, humanoid: bool = False, bvh_unit: str = "m",
                 scene: bool = True, out: str | Path | None = None,
                 smplx_path: str | None = None) -> tuple[list[str], int]:
    """Solve and export one sequence; returns (report lines, number of failures)."""
    import numpy as np

    from ehps.export.anim.sequence import export_animation
    from ehps.world.io import write_world
    from ehps.world.sequence import WorldOptions, solve_world

    sol = solve_world(folder, WorldOptions(up=up, cleanup=cleanup, smplx_path=smplx_path))
    res = export_animation(sol, formats, out, humanoid=humanoid, bvh_unit=bvh_unit,
                           scene=scene) if sol.motions else None
    files = write_world(sol, exports=None if res is None else res.to_json())
    lines = [f"{folder}: {len(sol.motions)} track(s) at {sol.fps:g} fps "
             f"(from {sol.tracks_in.source})"]
    w = sol.world
    if w.has_floor:
        f = w.floor
        assert f is not None
        lines.append(f"  floor: normal {np.round(f.normal, 3).tolist()} (camera), camera "
                     f"{f.offset:.2f} m above it; {f.inliers}/{f.candidates} foot points agree,"
                     f" residual {f.residual_m * 100:.1f} cm")
    for m in sol.motions:
        lines.append(f"  track {m.track_id}: {len(m.joints)} frames, contacts L/R "
                     f"{int(m.contacts[:, 0].sum())}/{int(m.contacts[:, 1].sum())}, sliding "
                     f"{m.sliding_before_mm:.1f} -> {m.sliding_after_mm:.1f} mm/frame, joints "
                     f"moved {m.change_cm:.1f} cm on average")
    lines += [f"  warning: {msg}" for msg in sol.warnings]
    lines += [f"  track {t} skipped: {why}" for t, why in sol.skipped]
    failures = len(sol.skipped)
    if res is not None:
        lines += [f"  {what} not written: {why}" for what, why in res.failures]
        failures += len(res.failures)
        lines.append(f"  wrote {len(res.files)} animation file(s) in {res.out_dir}")
    lines.append(f"  wrote {files['world.json']} and the world arrays in {files['tracks.npz']}")
    return lines, failures


def run(args: argparse.Namespace) -> int:
    from ehps.errors import EhpsError
    from ehps.export.anim.sequence import check_formats

    formats = check_formats(args.formats)  # stops here (one line) for a missing extra
    failures = 0
    for seq in args.sequences:
        try:
            lines, bad = run_sequence(
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
        failures += bad
    return 3 if failures else 0



def export_after_infer(report: object, formats: list[str] | tuple[str, ...], *,
                       up: str = "y", cleanup: bool = True, humanoid: bool = False,
                       smplx_path: str | None = None) -> tuple[list[str], int]:
    """The post-processing step of ``ehps infer ... --export-anim FMT...``: the world step and the
    animation files for every tracked sequence of an
    :class:`~ehps.inference.runner.InferReport` (call :func:`~ehps.export.anim.sequence.
    check_formats` before the inference so that a missing extra stops the run at once).

    Returns:
        Report lines and the number of tracks / files that could not be written.
    """
    lines: list[str] = []
    failures = 0
    for seq in getattr(report, "sequences", []):
        folder = Path(seq.folder)
        if not (folder / "tracks.npz").exists():
            continue
        from ehps.errors import EhpsError

        try:
            more, bad = run_sequence(folder, formats, up=up, cleanup=cleanup, humanoid=humanoid,
                                     smplx_path=smplx_path)
        except EhpsError as exc:
            more, bad = [f"{folder}: animation export failed: {exc}"], 1
        lines += more
        failures += bad
    return lines, failures
