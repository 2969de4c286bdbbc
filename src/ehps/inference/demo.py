"""``ehps demo``: ``ehps infer`` on one photo (by default the bundled one) with a demo's
presentation on top.

The estimation and the files are exactly those of :func:`ehps.inference.runner.run_inference`
(layout: :mod:`ehps.io.results`) with meshes (OBJ and GLB) and an opaque overlay beside a side
view; on top of them the demo writes ``scene.glb`` (every person in one glTF scene, coloured like
the overlay, y up as the camera saw it), adds a ``demo`` section to ``summary.json`` (per person:
score, box, distance, the fit's median reprojection error per part; timings) and prints a
one-screen summary (:func:`format_summary`).

An earlier demo's results in the output folder are replaced; any other earlier results are
kept and the run is refused (as ``ehps infer`` does) unless ``overwrite``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ehps.config.infer import EstimatorConfig, InferConfig, OutputConfig
from ehps.inference.predictor import Predictor
from ehps.inference.runner import InferReport, run_inference
from ehps.structures import FrameResult
from ehps.utils.io import atomic_write_json

__all__ = ["DEFAULT_IMAGE", "DemoReport", "run_demo", "format_summary", "demo_config"]

#: The bundled photo (an OpenCV sample, BSD licence): two basketball players.
DEFAULT_IMAGE = Path(__file__).resolve().parents[1] / "assets" / "basketball1.png"
#: The files a demo adds to those of ``ehps infer``.
SCENE_NAME = "scene.glb"


@dataclass
class DemoReport:
    """What :func:`run_demo` did.

    Attributes:
        image: the input image path.
        out_dir: the output folder.
        result: the photo's :class:`FrameResult` (``None`` when the photo could not be used).
        infer: the report of the underlying ``ehps infer`` run.
        files: output name -> path.
        summary: the ``demo`` section written to ``summary.json``.
    """

    image: Path
    out_dir: Path
    result: FrameResult | None
    infer: InferReport
    files: dict[str, Path] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return self.infer.exit_code


def demo_config(out_dir: str | Path, body_model: str = "anny", smplx_path: str | None = None,
                side_view: bool = True, overwrite: bool = False, progress: bool = True
                ) -> InferConfig:
    """The :class:`InferConfig` of a demo run."""
    return InferConfig(
        estimator=EstimatorConfig(body_model=body_model, smplx_path=smplx_path),
        output=OutputConfig(out_dir=str(out_dir), save_mesh=("obj", "glb"), render=True,
                            side_view=side_view, draw_boxes=False, overlay_alpha=1.0,
                            overwrite=overwrite),
        progress=progress,
    )


def _earlier_demo(out: Path) -> bool:
    try:
        return "demo" in json.loads((out / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


def run_demo(
    image: str | Path | None = None,
    out_dir: str | Path = "ehps_demo",
    body_model: str = "anny",
    side_view: bool = True,
    predictor: Predictor | None = None,
    smplx_path: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> DemoReport:
    """Estimate every person in one photo and write the demo's files to ``out_dir``.

    Args:
        image: the photo; default the bundled ``basketball1.png``.
        out_dir: output folder (created; an earlier demo there is replaced).
        body_model: the body model fitted (``"anny"``, ``"smplx"``: official files needed).
        side_view: add a side-view panel to the overlay.
        predictor: reuse a predictor (its estimator and detector) instead of building one.
        smplx_path: where to look for SMPL-X files first.
        overwrite: replace any earlier results in ``out_dir``.
        progress: progress bar (on a terminal).

    Returns:
        :class:`DemoReport`. A photo with nobody in it gives a report with no people and a
        warning; a photo that cannot be used gives ``exit_code`` 3 and the reason.
    """
    path = Path(image) if image is not None else DEFAULT_IMAGE
    out = Path(out_dir)
    config = demo_config(out, body_model, smplx_path, side_view,
                         overwrite or _earlier_demo(out), progress)
    results: list[FrameResult] = []
    infer = run_inference([path], config, predictor, on_result=results.append)
    out = infer.out_dir
    report = DemoReport(image=path, out_dir=out, result=results[0] if results else None,
                        infer=infer)
    if report.result is not None and report.result.people:
        report.files[SCENE_NAME] = _write_scene(out / SCENE_NAME, report.result)
    for sub in ("smplx", "meta", "mesh", "overlay"):
        for p in sorted((out / sub).glob("*")) if (out / sub).is_dir() else []:
            report.files[f"{sub}/{p.name}"] = p
    report.summary = _summary(report)
    summary_path = out / "summary.json"
    data = json.loads(summary_path.read_text(encoding="utf-8"))
    atomic_write_json(summary_path, {**data, "demo": report.summary})
    report.files["summary.json"] = summary_path
    return report


def _write_scene(path: Path, result: FrameResult) -> Path:
    from ehps.export.mesh import save_scene_glb
    from ehps.render import color_for_index

    people = [p for p in result.people if p.vertices_cam.shape[0]]
    meshes = [(p.vertices_full(), result.faces) for p in people]
    names = [f"person_{i:02d}" for i in range(len(people))]
    colors = [np.asarray(color_for_index(i), np.float32) for i in range(len(people))]
    save_scene_glb(path, meshes, names, colors, flip_yz=True)
    return path


def _summary(report: DemoReport) -> dict[str, Any]:
    res = report.result
    timings = report.infer.timings
    people = []
    for i, p in enumerate(res.people if res is not None else []):
        people.append({
            "index": i,
            "score": round(float(p.score), 3),
            "bbox_xywh": [round(float(x), 1) for x in p.bbox_xywh],
            "body_model": p.body_model,
            "distance_m": round(float(np.linalg.norm(p.params["transl"])), 2),
            "reprojection_px": {
                k: (None if not np.isfinite(v) else round(float(v), 2))
                for k, v in p.extras.get("reproj_px", {}).items()
            },
            "files": [str(report.out_dir / sub / f"000000_{i:02d}.{ext}")
                      for sub, ext in (("smplx", "npz"), ("mesh", "obj"), ("mesh", "glb"))],
        })
    n = len(people)
    spent = timings.get("detect", 0.0) + timings.get("fit", 0.0)
    return {
        "image": str(report.image),
        "image_hw": list(res.image_hw) if res is not None else None,
        "intrinsics": None if res is None else {
            "focal": list(res.intrinsics.focal), "princpt": list(res.intrinsics.princpt)},
        "estimator": report.infer.estimator if people else None,
        "people_found": n,
        "people": people,
        "warnings": ([] if res is None else list(res.warnings))
        + [f"{src}: {err}" for src, err in report.infer.failures],
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "seconds_per_person": round(spent / n, 3) if n else 0.0,
        "overlay": str(report.out_dir / "overlay" / "000000.png"),
    }


def format_summary(report: DemoReport) -> str:
    """A compact plain-text, one-screen summary of a demo run."""
    s = report.summary
    hw = s["image_hw"] or [0, 0]
    lines = [
        f"ehps demo  {s['image']}  ({hw[1]}x{hw[0]} px)",
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
        f"{per_person}; meshes {t.get('body_model', 0.0):.2f}s, overlay {t.get('render', 0.0):.2f}s"
    )
    lines.append(f"output: {report.out_dir}/  (the layout of ehps infer, plus {SCENE_NAME})")
    counts: dict[str, int] = {}
    for name in report.files:
        top = name.split("/")[0] + ("/" if "/" in name else "")
        counts[top] = counts.get(top, 0) + 1
    lines.append("  " + "  ".join(f"{top} ({n} files)" if top.endswith("/") else top
                                  for top, n in sorted(counts.items())))
    return "\n".join(lines)
