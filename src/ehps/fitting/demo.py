"""The demo: whole-body 3D people from one photo with the embedded models, written to a folder.

Outputs (``out_dir``): per person ``person_XX.npz`` (parameters in the SMPL-X key layout of
:data:`ehps.structures.SMPLX_PARAM_KEYS`, plus Anny's ``phenotype`` / ``facial_actions``, the
camera and the box), ``person_XX.obj`` (the mesh in the camera frame, metres, OpenCV axes: x right,
y down, z forward, as the official demo writes it) and ``person_XX.glb`` (the same scene in glTF's
convention, y up and the camera looking down -z, so that viewers show it upright as the camera saw
it, coloured like the overlay), ``scene.glb`` (everyone in one scene), ``overlay.png`` (every
mesh over the photo, with a side-view panel) and ``summary.json``. All files are written atomically.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ehps.fitting.estimator import EmbeddedEstimator
from ehps.geometry.camera import Intrinsics
from ehps.structures import SMPLX_PARAM_KEYS, FrameResult
from ehps.utils.io import atomic_save_npz, atomic_write_image, atomic_write_json

__all__ = [
    "DEFAULT_IMAGE",
    "DemoReport",
    "run_demo",
    "format_summary",
    "person_npz_arrays",
    "OVERLAY_MAX_SIDE",
]

#: The bundled photo (an OpenCV sample, BSD licence): two basketball players.
DEFAULT_IMAGE = Path(__file__).resolve().parents[1] / "assets" / "basketball1.png"
#: Mesh opacity over the photo: opaque, so patterned clothes do not shine through the shading
#: as blotches (edges stay anti-aliased through the coverage mask).
OVERLAY_ALPHA = 1.0
#: Longest side of the overlay image; larger photos are drawn downscaled (memory and time).
OVERLAY_MAX_SIDE = 1600


@dataclass
class DemoReport:
    """What :func:`run_demo` did.

    Attributes:
        image: the input image path.
        out_dir: the output folder.
        result: the :class:`FrameResult`.
        files: output name -> path.
        timings: seconds per step (``"load"``, ``"detect"``, fit stages, ``"write"``, ...).
        summary: the JSON summary written to ``summary.json``.
    """

    image: Path
    out_dir: Path
    result: FrameResult
    files: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


def person_npz_arrays(person: Any, intrinsics: Intrinsics) -> dict[str, np.ndarray]:
    """The arrays of one person's ``.npz``: SMPL-X parameter keys (shapes of
    :data:`SMPLX_PARAM_KEYS`; for Anny ``betas``/``expression`` are zeros and not fitted), the
    model's own keys (``phenotype``, ``facial_actions``), ``body_model``, ``focal``, ``princpt``,
    ``bbox_xywh``, ``score`` and ``joints_cam`` (the 55 SMPL-X skeleton joints, camera metres)."""
    arrays: dict[str, np.ndarray] = {}
    for key, shape in SMPLX_PARAM_KEYS.items():
        val = person.params.get(key)
        arr = np.zeros(shape, np.float32) if val is None else np.asarray(val, np.float32)
        if arr.size == int(np.prod(shape)):
            arr = arr.reshape(shape)
        arrays[key] = arr
    for key, val in person.params.items():
        if key not in arrays:
            arrays[key] = np.asarray(val, np.float32)
    arrays["body_model"] = np.array(person.body_model)
    arrays["focal"] = np.asarray(intrinsics.focal, np.float32)
    arrays["princpt"] = np.asarray(intrinsics.princpt, np.float32)
    arrays["bbox_xywh"] = np.asarray(person.bbox_xywh, np.float32)
    arrays["score"] = np.float32(person.score)
    arrays["joints_cam"] = np.asarray(person.joints_cam[:55], np.float32)
    return arrays


def _overlay(image: np.ndarray, result: FrameResult, side_view: bool) -> np.ndarray:
    from ehps.render import render_overlay

    h, w = image.shape[:2]
    k = result.intrinsics
    scale = min(1.0, OVERLAY_MAX_SIDE / max(h, w))
    if scale < 1.0:
        import cv2

        image = cv2.resize(image, (round(w * scale), round(h * scale)),
                           interpolation=cv2.INTER_AREA)
        k = Intrinsics(k.fx * scale, k.fy * scale, k.cx * scale, k.cy * scale)
    faces = result.faces
    meshes = [(p.vertices_full(), faces) for p in result.people]
    if not meshes:
        return image
    return render_overlay(image, meshes, k, alpha=OVERLAY_ALPHA, side_view=side_view)


def run_demo(
    image: str | Path | None = None,
    out_dir: str | Path = "ehps_demo",
    body_model: str | Any = "anny",
    side_view: bool = True,
    estimator: EmbeddedEstimator | None = None,
    smplx_path: str | Path | None = None,
) -> DemoReport:
    """Run the embedded estimator on one photo and write everything to ``out_dir``.

    Args:
        image: the photo; default the bundled ``basketball1.png``.
        out_dir: output folder (created).
        body_model: ``"anny"`` (default), ``"smplx"`` (official files needed) or an instance.
        side_view: add a side-view panel to the overlay.
        estimator: reuse an estimator (its body model and detector) instead of building one.
        smplx_path: where to look for SMPL-X files first.

    Returns:
        :class:`DemoReport`. A photo with nobody in it gives a report with no people, a warning,
        and only ``overlay.png`` (the photo) and ``summary.json``.
    """
    from ehps.detection import load_image

    path = Path(image) if image is not None else DEFAULT_IMAGE
    out = Path(out_dir)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    rgb = load_image(path)
    timings["load"] = time.perf_counter() - t0
    est = estimator or EmbeddedEstimator(body_model=body_model, smplx_path=smplx_path)
    t1 = time.perf_counter()
    _ = est.body_model  # build (or load from the cache) before timing the estimate
    timings["body_model"] = time.perf_counter() - t1
    result = est(rgb, source=str(path))
    timings.update(est.timings)
    t2 = time.perf_counter()
    report = DemoReport(image=path, out_dir=out, result=result)
    out.mkdir(parents=True, exist_ok=True)
    from ehps.export.mesh import save_glb, save_obj, save_scene_glb
    from ehps.render import color_for_index

    meshes, names, colors = [], [], []
    for i, person in enumerate(result.people):
        stem = out / f"person_{i:02d}"
        atomic_save_npz(stem.with_suffix(".npz"), **person_npz_arrays(person, result.intrinsics))
        verts = person.vertices_full()
        save_obj(stem.with_suffix(".obj"), verts, result.faces)
        color = np.asarray(color_for_index(i), np.float32)
        save_glb(stem.with_suffix(".glb"), verts, result.faces, color, name=stem.name,
                 flip_yz=True)
        meshes.append((verts, result.faces))
        names.append(stem.name)
        colors.append(color)
        for ext in ("npz", "obj", "glb"):
            report.files[f"person_{i:02d}.{ext}"] = stem.with_suffix(f".{ext}")
    if meshes:
        save_scene_glb(out / "scene.glb", meshes, names, colors, flip_yz=True)
        report.files["scene.glb"] = out / "scene.glb"
    timings["write_meshes"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    overlay = _overlay(rgb, result, side_view)
    atomic_write_image(out / "overlay.png", overlay)
    report.files["overlay.png"] = out / "overlay.png"
    timings["overlay"] = time.perf_counter() - t3
    report.timings = timings
    report.summary = _summary(report)
    atomic_write_json(out / "summary.json", report.summary)
    report.files["summary.json"] = out / "summary.json"
    return report


def _summary(report: DemoReport) -> dict[str, Any]:
    res = report.result
    people = []
    for i, p in enumerate(res.people):
        people.append(
            {
                "index": i,
                "score": round(float(p.score), 3),
                "bbox_xywh": [round(float(x), 1) for x in p.bbox_xywh],
                "body_model": p.body_model,
                "distance_m": round(float(np.linalg.norm(p.params["transl"])), 2),
                "reprojection_px": {
                    k: (None if not np.isfinite(v) else round(float(v), 2))
                    for k, v in p.extras.get("reproj_px", {}).items()
                },
                "files": [str(report.files[f"person_{i:02d}.{e}"]) for e in ("npz", "obj", "glb")],
            }
        )
    n = len(res.people)
    spent = report.timings.get("detect", 0.0) + report.timings.get("fit", 0.0)
    per_person = spent / n if n else 0.0
    return {
        "image": str(report.image),
        "image_hw": list(res.image_hw),
        "intrinsics": {
            "focal": list(res.intrinsics.focal),
            "princpt": list(res.intrinsics.princpt),
        },
        "estimator": f"fit-{res.people[0].body_model}" if res.people else None,
        "people_found": len(res.people),
        "people": people,
        "warnings": list(res.warnings),
        "timings_s": {k: round(v, 3) for k, v in report.timings.items()},
        "seconds_per_person": round(per_person, 3),
        "overlay": str(report.files.get("overlay.png", "")),
    }


def format_summary(report: DemoReport) -> str:
    """A compact plain-text, one-screen summary of a demo run."""
    s = report.summary
    lines = [
        f"ehps demo  {s['image']}  ({s['image_hw'][1]}x{s['image_hw'][0]} px)",
        f"people found: {s['people_found']}" + (f"   ({s['estimator']})" if s["estimator"] else ""),
    ]
    for w in s["warnings"]:
        lines.append(f"  warning: {w}")
    if s["people"]:
        lines.append("  #  score  dist(m)  reprojection px: body  l.hand  r.hand  face")
        for p in s["people"]:
            r = p["reprojection_px"]

            def fmt(v: Any) -> str:
                return "   -  " if v is None else f"{v:6.1f}"

            lines.append(
                f"  {p['index']}  {p['score']:.2f}   {p['distance_m']:5.2f}"
                f"                  {fmt(r.get('body'))}  {fmt(r.get('left_hand'))}"
                f"  {fmt(r.get('right_hand'))}  {fmt(r.get('face'))}"
            )
    t = s["timings_s"]
    per_person = f" -> {s['seconds_per_person']:.2f} s/person" if s["people_found"] else ""
    lines.append(
        f"time: detect+landmarks {t.get('detect', 0.0):.2f}s, fit {t.get('fit', 0.0):.2f}s"
        f"{per_person}; overlay {t.get('overlay', 0.0):.2f}s"
        + (f", body model load {t['body_model']:.1f}s" if "body_model" in t else "")
    )
    skip = {"load", "body_model", "detect", "fit", "total", "write_meshes", "overlay"}
    stages = [k for k in t if k not in skip]
    if stages:
        lines.append("  fit stages: " + ", ".join(f"{k} {t[k]:.2f}s" for k in stages))
    lines.append(f"output: {report.out_dir}/")
    row = " "
    for name in sorted(report.files):
        if len(row) + len(name) + 2 > 100:
            lines.append(row)
            row = " "
        row += " " + name
    lines.append(row)
    return "\n".join(lines)
