"""Why the embedded person search misses people: every missed person of the synthetic crowd set
(``ehps.testing.synthetic_crowd``, the scenes of ``benchmarks/detection_crowd.py``) at least
``--min-height`` px tall, with the cause, and recall by visible fraction and border cut.

For each missed person the search is traced (every landmark-model call, tagged with the search
step that made it: detector proposals, face proposals, face-free proposals) and the miss is put in
the first class that fits:

- ``shared``: a person found matches them (box IoU >= 0.5 with their visible or clipped
  amodal box) but was matched to an overlapping neighbour (one box for two people);
- ``dropped``: a candidate matching the person was verified but the duplicate / part / size
  rules removed it;
- ``refused:<check>``: a face-free landmark crop matched the person but the first failing check
  of the face-free verification (:func:`ehps.detection.segment_search.face_free_refusal`:
  presence, min_px, agreement, swallow; ``blob_fit`` when all pass) refused it;
- ``det_presence``: a detector or face crop matched the person with presence under
  ``min_presence``;
- ``no_proposal:<seen>``: no landmark crop matched the person at all; ``<seen>`` says whether the
  segmenter's leftover covered the person's visible box (``leftover``), the segmenter saw the
  person but the masks of found people explain it (``explained``), or the segmenter did not see
  them (``unseen``).

False positives are listed too, with the step that proposed them.

An oracle column gives the landmark model's presence and box IoU on a crop of 1.3x the true
visible box (can the model verify this person at all?).

Usage::

    python benchmarks/detection_misses.py [--scenes 60] [--config auto] [--min-height 80]
        [--cache ~/.cache/ehps/bench_crowd_v2] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import collections
import time
from pathlib import Path
from typing import Any

import numpy as np

#: The detector score the face-free step gives its candidates, by source.
SOURCES = {0.5: "face-free blob", 0.4: "face-free border window", 0.3: "face-free leftover window"}


def _trace(det: Any) -> dict[str, Any]:
    """Wrap the detector's landmark model and search steps to record every landmark call."""
    state: dict[str, Any] = {"phase": "detector", "calls": [], "pre": []}
    landmarker = det.pose_landmarker

    def record(pyramid: Any, roi: Any) -> Any:
        pose = landmarker(pyramid, roi)
        state["calls"].append((state["phase"], pose))
        return pose

    det.__dict__["pose_landmarker"] = record
    for name, phase in (("_face_candidates", "face"), ("_segment_candidates", "segment")):
        method = getattr(det, name)

        def wrapped(*a: Any, _m: Any = method, _p: str = phase, **k: Any) -> Any:
            state["phase"] = _p
            try:
                return _m(*a, **k)
            finally:
                state["phase"] = "detector"

        setattr(det, name, wrapped)
    dedup = det._deduplicate

    def deduplicate(people: list) -> list:
        state["pre"] = list(people)
        return dedup(people)

    det._deduplicate = deduplicate
    return state


def main() -> None:
    # the script's own folder is on the path: the crowd benchmark's detector configurations
    from detection_crowd import scenes_and_detector
    from ehps.detection.people import box_iou_xywh, person_box
    from ehps.detection.roi import ImagePyramid, Roi
    from ehps.detection.segment_proposals import (
        leftover_mask,
        map_stride,
        mask_agreement,
        segment_windows,
    )
    from ehps.detection.segment_search import face_free_refusal
    from ehps.testing.crowd_metrics import match_scene

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", type=int, default=60)
    ap.add_argument("--first", type=int, default=0, help="skip the scenes before this one")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", default="auto", help="a detection_crowd.py configuration")
    ap.add_argument("--min-height", type=float, default=80.0)
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "ehps" / "bench_crowd_v2"))
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--quick", action="store_true", help="8 scenes")
    args = ap.parse_args()
    scenes, det = scenes_and_detector(args)
    state = _trace(det)
    cfg = det.search_config
    causes: collections.Counter = collections.Counter()
    by_vis: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    t0 = time.perf_counter()
    print(f"== misses of {args.config} (people >= {args.min_height:.0f} px, counted) ==")
    for scene in scenes[args.first:]:
        state["calls"], state["pre"] = [], []
        pyramid = ImagePyramid(scene.image)
        h, w = scene.image.shape[:2]
        people = det._find_people(pyramid)
        boxes = np.asarray([person_box(p.pose, [], h, w) for p in people]).reshape(-1, 4)
        match = match_scene(boxes, np.array([p.score for p in people]), scene)
        for d, st in enumerate(match.detection_status):
            if st == "fp":
                source = SOURCES.get(round(people[d].det_score, 2), "detector/face")
                causes["false positive"] += 1
                print(f"scene {scene.index:2d} FP box={boxes[d].round(0).astype(int).tolist()} "
                      f"presence {people[d].score:.3f} from {source}", flush=True)
        prob = None
        for j, (truth, found) in enumerate(zip(scene.people, match.found)):
            if truth.ignore or truth.height_px < args.min_height:
                continue
            ab = truth.amodal_xywh
            cut = not (ab[0] >= 0 and ab[1] >= 0 and ab[0] + ab[2] <= w and ab[1] + ab[3] <= h)
            vis = truth.visible_fraction
            key = f"vis {'0.50-0.65' if vis < 0.65 else '0.65-0.90' if vis < 0.9 else '0.90+'}"
            for k in (key, "cut" if cut else "whole", "all"):
                by_vis[k][0] += 1
                by_vis[k][1] += int(found)
            if found:
                continue
            clipped = np.array([max(ab[0], 0), max(ab[1], 0), min(ab[0] + ab[2], w)
                                - max(ab[0], 0), min(ab[1] + ab[3], h) - max(ab[1], 0)])

            def fits(pose: Any, _vb: np.ndarray = truth.box_xywh, _cl: np.ndarray = clipped,
                     _h: int = h, _w: int = w) -> float:
                pb = person_box(pose, [], _h, _w)
                return max(box_iou_xywh(pb, _vb), box_iou_xywh(pb, _cl))

            if prob is None:
                stride = map_stride(h, w)
                prob = det.selfie_segmenter(pyramid, segment_windows(h, w), stride)
                known = [p.pose for p in people]
            cause = ""
            if any(fits(c.pose) >= 0.5 for c in people):
                cause = "shared"  # the candidate matching them was matched to a neighbour
            elif any(fits(c.pose) >= 0.5 for c in state["pre"]):
                cause = "dropped"
            segs = [p for ph, p in state["calls"] if ph == "segment" and fits(p) >= 0.5]
            if not cause and segs:
                best = max(segs, key=lambda p: p.score)
                refusal = face_free_refusal(best, prob, stride, known, h, w, cfg)
                cause = f"refused:{refusal or 'blob_fit'}"
                cause += (f" (pres {best.score:.2f} agree "
                          f"{mask_agreement(best, prob, stride):.2f})")
            others = [p for ph, p in state["calls"] if ph != "segment" and fits(p) >= 0.5]
            if not cause and others:
                cause = f"det_presence (best {max(p.score for p in others):.2f})"
            if not cause:
                vb = truth.box_xywh
                s = stride
                x0, y0 = int(vb[0] // s), int(vb[1] // s)
                x1, y1 = int(np.ceil((vb[0] + vb[2]) / s)), int(np.ceil((vb[1] + vb[3]) / s))
                seen = float((prob[y0:y1, x0:x1] > 0.5).mean())
                left = leftover_mask(prob, known, stride)
                lf = float(left[y0:y1, x0:x1].mean())
                tag = "leftover" if lf >= 0.15 else "explained" if seen >= 0.15 else "unseen"
                cause = f"no_proposal:{tag} (seg {seen:.2f} left {lf:.2f})"
            vb = truth.box_xywh
            side = 1.3 * float(max(vb[2], vb[3]))
            oracle = det.pose_landmarker(pyramid, Roi(vb[0] + vb[2] / 2, vb[1] + vb[3] / 2,
                                                      side, side))
            causes[cause.split(" ")[0]] += 1
            print(f"scene {scene.index:2d} #{j:2d} {truth.kind:14s} h={truth.height_px:4.0f} "
                  f"vis={vis:.2f} cut={int(cut)} vbox={vb.round(0).astype(int).tolist()} | "
                  f"{cause} | oracle pres {oracle.score:.2f} iou {fits(oracle):.2f}", flush=True)
    print(f"\n== causes ({time.perf_counter() - t0:.0f} s) ==")
    for cause, n in causes.most_common():
        print(f"{n:4d}  {cause}")
    print("\n== recall by visibility / border cut (>= "
          f"{args.min_height:.0f} px) ==")
    for k in sorted(by_vis):
        n, f = by_vis[k]
        print(f"{k:14s} {f:4d} / {n:4d} = {f / max(n, 1):.3f}")


if __name__ == "__main__":
    main()
