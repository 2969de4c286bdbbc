"""Accuracy of the embedded pipeline (detector + fit) on synthetic images with known 3D truth.

Renders N people (Anny, random plausible poses, shapes and expressions, dressed-looking colours,
camera 2.5-5 m, varied backgrounds: ``ehps.fitting.synthetic_eval``), runs the full pipeline on
each image and prints per image and overall: body PA-MPJPE (22 SMPL-X body joints), hand
PA-MPJPE (16 joints per hand, each hand aligned separately), failures, seconds per image.

Usage::

    python benchmarks/fit_synthetic_eval.py [--num 20] [--seed 0] [--json out.json]
        [--save-images DIR]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--num", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--save-images", default=None, help="write each input image and overlay")
    args = ap.parse_args()

    from ehps.fitting.estimator import EmbeddedEstimator
    from ehps.fitting.synthetic_eval import evaluate

    est = EmbeddedEstimator()
    report = evaluate(est, args.num, seed=args.seed, keep_images=bool(args.save_images))
    print(f"{'#':>3} {'background':>10} {'found':>5} {'body PA mm':>10} {'hands PA mm':>11} "
          f"{'reproj body/lh/rh/face px':>27} {'s':>6}")
    for r in report.rows:
        rp = r.get("reproj_px", {})
        rps = "/".join("-" if not math.isfinite(rp.get(k, float("nan"))) else f"{rp[k]:.1f}"
                       for k in ("body", "left_hand", "right_hand", "face"))
        print(f"{r['index']:>3} {r['background']:>10} {r['people']:>5} "
              f"{r['body_pa_mpjpe_mm']:>10.1f} {r['hands_pa_mpjpe_mm']:>11.1f} {rps:>27} "
              f"{r['seconds']:>6.2f}")
    s = report.summary()
    print(f"\nimages {s['samples']}, failures {s['failures']}")
    print(f"body PA-MPJPE  mean {s['body_pa_mpjpe_mm_mean']:.1f} mm, median "
          f"{s['body_pa_mpjpe_mm_median']:.1f} mm  (target <= 80)")
    print(f"hands PA-MPJPE mean {s['hands_pa_mpjpe_mm_mean']:.1f} mm, median "
          f"{s['hands_pa_mpjpe_mm_median']:.1f} mm")
    print(f"seconds per image (detect + fit, 1 person): {s['seconds_per_image_mean']:.2f}")
    if args.save_images:
        import cv2

        from ehps.render import render_overlay

        out = Path(args.save_images)
        out.mkdir(parents=True, exist_ok=True)
        for r in report.rows:
            res = r["result"]
            img = r["image"]
            if res.people:
                meshes = [(p.vertices_full(), res.faces) for p in res.people]
                img = np.concatenate([img, render_overlay(img, meshes, res.intrinsics)], 1)
            cv2.imwrite(str(out / f"sample_{r['index']:02d}.png"), img[:, :, ::-1])
    if args.json:
        rows = [{k: v for k, v in r.items() if k not in ("image", "result")}
                for r in report.rows]
        Path(args.json).write_text(json.dumps({"summary": s, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
