"""Animation files for every track of a solved sequence (:class:`~ehps.world.WorldSolution`).

Files (in ``<sequence>/anim/`` by default):

- ``track_{id:02d}.glb``: one person, y up, time 0 = the track's first frame;
- ``scene.glb``: every person on the video's timeline (time 0 = the sequence's first frame; a
  person is hidden outside their track), the video camera, and the floor when there is one;
- ``track_{id:02d}.bvh``: one person, in the world's up axis (``--up``), metres by default;
- ``track_{id:02d}.fbx``: the track's GLB converted by Blender (:mod:`ehps.export.anim.fbx`).

A track that fails (its body model is missing, a writer error) is reported with a one-line reason
and the others are still written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ehps.config.infer import ANIM_FORMATS
from ehps.errors import EhpsError, InputError
from ehps.export.anim.bvh import write_bvh
from ehps.export.anim.gltf import Character, SceneCamera, write_glb
from ehps.export.anim.humanoid import humanoid_names
from ehps.export.anim.rig import Clip
from ehps.world.frame import Z_UP_FROM_Y_UP
from ehps.world.sequence import WorldSolution

__all__ = ["ANIM_FORMATS", "AnimExport", "check_formats", "export_animation",
           "animate_sequence"]

log = logging.getLogger(__name__)



@dataclass
class AnimExport:
    """What :func:`export_animation` wrote: name -> path, and ``(what, reason)`` failures."""

    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"folder": str(self.out_dir), "files": sorted(self.files),
                "failures": {k: v for k, v in self.failures}}


def check_formats(formats: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Validate format names (and that FBX has a Blender) before any work is done.

    Raises:
        InputError: an unknown format; MissingDependencyError: FBX without Blender.
    """
    fmts = tuple(dict.fromkeys(f.lower().lstrip(".") for f in formats))
    bad = [f for f in fmts if f not in ANIM_FORMATS]
    if bad:
        raise InputError(f"unknown animation format(s) {', '.join(bad)}: choose from "
                         f"{', '.join(ANIM_FORMATS)}")
    if "fbx" in fmts:
        from ehps.export.anim.fbx import check_fbx

        check_fbx()
    return fmts


def _color(track_id: int) -> tuple[float, float, float]:
    from ehps.render.shading import color_for_index

    srgb = np.asarray(color_for_index(track_id), np.float64)
    lin = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    return tuple(float(v) for v in lin)  # type: ignore[return-value]


def _moved(clip: Clip, rot: np.ndarray) -> Clip:
    m = np.eye(4)
    m[:3, :3] = rot
    return Clip(clip.fps, clip.frame_index, m @ clip.transforms, clip.morph_weights,
                clip.joints @ rot.T)


def _scene_camera(sol: WorldSolution, world_from_camera: np.ndarray) -> SceneCamera | None:
    cam = sol.tracks_in.camera
    if cam is None or cam.height <= 0 or cam.width <= 0:
        return None
    yfov = 2.0 * np.arctan(cam.height / (2.0 * cam.fy))
    return SceneCamera(world_from_camera, float(yfov), cam.width / cam.height)


def export_animation(
    sol: WorldSolution,
    formats: tuple[str, ...] | list[str] = ("glb", "bvh"),
    out_dir: str | Path | None = None,
    *,
    humanoid: bool = False,
    bvh_unit: str = "m",
    scene: bool = True,
) -> AnimExport:
    """Write the animation files of every track (see the module docstring).

    Args:
        sol: the solved sequence.
        formats: any of :data:`ANIM_FORMATS`.
        out_dir: where (default ``<sequence>/anim``).
        humanoid: Mixamo-style joint names (:mod:`ehps.export.anim.humanoid`).
        bvh_unit: ``"m"`` or ``"cm"``.
        scene: also write ``scene.glb`` (with ``glb``).
    """
    fmts = check_formats(formats)
    out = Path(out_dir) if out_dir is not None else sol.tracks_in.folder / "anim"
    out.mkdir(parents=True, exist_ok=True)
    res = AnimExport(out)
    w_y = sol.world.with_up("y").world_from_camera
    up_rot = np.eye(3) if sol.world.up == "y" else Z_UP_FROM_Y_UP
    fps = sol.fps
    meta = {"fps": fps, "up": "y", "frame": "floor" if sol.world.has_floor else "camera",
            "source": str(sol.tracks_in.folder)}
    chars = []
    for m in sol.motions:
        name = f"track_{m.track_id:02d}"
        try:
            clip = m.clip(w_y, fps)
            names = humanoid_names(m.rig) if humanoid else None
            ch = Character(m.rig, clip, name, _color(m.track_id), names)
            extras = {**meta, "track_id": m.track_id, "body_model": m.rig.body_model,
                      "first_frame": int(m.track.frame_index[0]),
                      "start_time_s": float((m.track.frame_index[0] - sol.tracks_in.first_frame)
                                            / fps)}
            if "glb" in fmts or "fbx" in fmts:
                res.files[f"{name}.glb"] = write_glb(out / f"{name}.glb", [ch], extras=extras)
            if "bvh" in fmts:
                comment = (f"ehps track {m.track_id} ({m.rig.body_model}), first video frame "
                           f"{int(m.track.frame_index[0])}, {fps:g} fps, {sol.world.up} up")
                res.files[f"{name}.bvh"] = write_bvh(
                    out / f"{name}.bvh", m.rig, _moved(clip, up_rot), rest_rotation=up_rot,
                    joint_names=names, unit=bvh_unit, comment=comment)
            if "fbx" in fmts:
                from ehps.export.anim.fbx import glb_to_fbx

                res.files[f"{name}.fbx"] = glb_to_fbx(out / f"{name}.glb", out / f"{name}.fbx",
                                                      fps)
                if "glb" not in fmts:
                    (out / f"{name}.glb").unlink(missing_ok=True)
                    res.files.pop(f"{name}.glb", None)
            chars.append(Character(m.rig, clip, name, ch.color, names, hide_outside=True))
        except (EhpsError, OSError, RuntimeError, ValueError) as exc:
            res.failures.append((name, str(exc)))
            log.warning("%s: not exported (%s)", name, exc)
    if scene and "glb" in fmts and chars:
        try:
            floor = None
            if sol.world.has_floor:
                xz = np.concatenate([c.clip.joints[:, 0][:, [0, 2]] for c in chars])
                lo, hi = xz.min(0) - 1.0, xz.max(0) + 1.0
                floor = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
            res.files["scene.glb"] = write_glb(
                out / "scene.glb", chars, time_origin=sol.tracks_in.first_frame,
                camera=_scene_camera(sol, w_y), floor_extent=floor,
                extras={**meta, "tracks": [m.track_id for m in sol.motions],
                        "first_frame": sol.tracks_in.first_frame})
        except (OSError, ValueError) as exc:
            res.failures.append(("scene.glb", str(exc)))
    return res


def animate_sequence(folder: str | Path, formats: list[str] | tuple[str, ...], *,
                     up: str = "y", cleanup: bool = True, humanoid: bool = False,
                     bvh_unit: str = "m", scene: bool = True, out: str | Path | None = None,
                     smplx_path: str | None = None) -> tuple[list[str], list[tuple[str, str]]]:
    """The world step and the animation files of one finished sequence folder: what ``ehps
    export anim`` and ``ehps infer ... --export-anim`` run.

    Args:
        folder: the sequence folder (holding ``tracks.npz`` or ``state/*.npz``).
        formats: any of :data:`ANIM_FORMATS` (empty: only ``world.json`` and the world arrays).
        up: ``"y"`` or ``"z"``: up axis of ``world.json``, the world arrays and BVH.
        cleanup: foot-skate cleanup on contacts.
        humanoid: Mixamo-style joint names.
        bvh_unit: ``"m"`` or ``"cm"``.
        scene: also write ``scene.glb``.
        out: folder of the animation files (default ``<folder>/anim``).
        smplx_path: SMPL-X model folder for SMPL-X tracks.

    Returns:
        Report lines (one per fact: floor, tracks, warnings, skipped tracks, files) and the
        ``(track or file, reason)`` of every track / file that could not be written.

    Raises:
        InputError: ``tracks.npz`` (and the frame records) cannot be used at all.
    """
    from ehps.world.io import write_world
    from ehps.world.sequence import WorldOptions, solve_world

    sol = solve_world(folder, WorldOptions(up=up, cleanup=cleanup, smplx_path=smplx_path))
    res = export_animation(sol, formats, out, humanoid=humanoid, bvh_unit=bvh_unit,
                           scene=scene) if sol.motions and formats else None
    files = write_world(sol, exports=None if res is None else res.to_json())
    lines = [f"{folder}: {len(sol.motions)} track(s) at {sol.fps:g} fps "
             f"(from {sol.tracks_in.source})"]
    w = sol.world
    if w.has_floor:
        f = w.floor
        assert f is not None
        lines.append(f"  floor: normal {np.round(f.normal, 3).tolist()} (camera), camera "
                     f"{f.offset:.2f} m above it; {f.inliers}/{f.candidates} foot points agree,"
                     f" residual {f.residual_m * 100:.1f} cm; {len(f.supporting)} of "
                     f"{len(f.supporting) + len(f.disagreeing)} tracks stand on it ({f.method})")
    for m in sol.motions:
        line = (f"  track {m.track_id}: {len(m.joints)} frames, contacts L/R "
                f"{int(m.contacts[:, 0].sum())}/{int(m.contacts[:, 1].sum())}")
        if np.isfinite(m.sliding_before_mm):
            line += (f", sliding {m.sliding_before_mm:.1f} -> {m.sliding_after_mm:.1f} mm/frame,"
                     f" joints moved {m.change_cm:.1f} cm on average")
        lines.append(line)
    lines += [f"  warning: {msg}" for msg in sol.warnings]
    lines += [f"  track {t} skipped: {why}" for t, why in sol.skipped]
    failures = [(f"{folder} track {t}", why) for t, why in sol.skipped]
    if res is not None:
        lines += [f"  {what} not written: {why}" for what, why in res.failures]
        failures += [(str(res.out_dir / what), why) for what, why in res.failures]
        lines.append(f"  wrote {len(res.files)} animation file(s) in {res.out_dir}")
    lines.append(f"  wrote {files['world.json']} and the world arrays in {files['tracks.npz']}")
    return lines, failures
