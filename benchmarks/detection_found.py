"""Every person the embedded search finds on the synthetic crowd set, with what a precision rule
could use: presence, the proposing step, box aspect, segmenter agreement, the landmark model's
mean visibility, and how the box relates to the true people (matched, part of one, background).

Writes one JSON row per detection, so that a rule can be tried on the rows without running the
models again, and prints the false positives with their features.

Usage::

    python benchmarks/detection_found.py [--scenes 60 | --quick] [--config auto] --out found.json
        [--cache ~/.cache/ehps/bench_crowd_v2] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _ioa(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of box ``a``'s area (xywh) inside box ``b``."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(x1 - x0, 0.0) * max(y1 - y0, 0.0)
    return float(inter / max(a[2] * a[3], 1e-9))


def main() -> None:
    # the script's own folder is on the path: the crowd benchmark's detector configurations
    from detection_crowd import scenes_and_detector
    from ehps.detection.people import box_iou_xywh, person_box
    from ehps.detection.roi import ImagePyramid
    from ehps.detection.segment_proposals import map_stride, mask_agreement, segment_windows
    from ehps.testing.crowd_metrics import match_scene

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", default="auto", help="a detection_crowd.py configuration")
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "ehps" / "bench_crowd_v2"))
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--quick", action="store_true", help="8 scenes")
    args = ap.parse_args()
    scenes, det = scenes_and_detector(args)
    rows = []
    t0 = time.perf_counter()
    for scene in scenes:
        pyramid = ImagePyramid(scene.image)
        h, w = scene.image.shape[:2]
        people = det._find_people(pyramid)
        boxes = np.asarray([person_box(p.pose, [], h, w) for p in people]).reshape(-1, 4)
        match = match_scene(boxes, np.array([p.score for p in people]), scene)
        stride = map_stride(h, w)
        prob = det.selfie_segmenter(pyramid, segment_windows(h, w), stride)
        for d, person in enumerate(people):
            b = boxes[d]
            ious = [max(box_iou_xywh(b, t.box_xywh), box_iou_xywh(b, t.amodal_xywh))
                    for t in scene.people] or [0.0]
            ioas = [_ioa(b, t.amodal_xywh) for t in scene.people] or [0.0]
            row = {"scene": scene.index, "box": b.round(1).tolist(),
                   "status": match.detection_status[d], "presence": float(person.score),
                   "det_score": float(person.det_score), "aspect": float(b[2] / max(b[3], 1)),
                   "agreement": mask_agreement(person.pose, prob, stride),
                   "visibility": float(np.mean(person.pose.visibility[11:29])),
                   "best_iou": float(max(ious)), "best_ioa": float(max(ioas)),
                   "height": float(b[3])}
            rows.append(row)
            if row["status"] == "fp":
                print(f"scene {scene.index:2d} FP " + " ".join(
                    f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in row.items() if k not in ("scene", "status")), flush=True)
    args.out.write_text(json.dumps(rows, indent=0))
    print(f"{len(rows)} detections, {sum(r['status'] == 'fp' for r in rows)} false positives, "
          f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
