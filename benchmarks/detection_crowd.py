"""Person-detection recall, precision and time, side by side, on a synthetic crowd set with true
boxes and on the real surveillance video.

Part 1: ``--scenes N`` crowd images (``ehps.testing.synthetic_crowd``: 1-12 Anny people per
image, 40-400 px tall, varied poses, occlusions and border cuts, on real photo backgrounds),
rendered once and cached (``--cache``). For each detector configuration: recall and precision
per person height (40-80, 80-160, 160+ px; matching rules in ``ehps.testing.crowd_metrics``),
recall for >= 80 px and 40-80 px (and on the "reasonable" subset of people at least 65 % visible),
precision, false positives and seconds per image of the person
search (detection + body landmarks: the detectors run with ``hands=False, face=False``; hands and
face, found per person afterwards, cost the same in every configuration).

Part 2: ``vtest.avi``: people per frame on ``--vtest-frames`` frames spread over the clip, and
true / false positives on the 8 frames whose pedestrians were counted by eye.

Configurations (``--configs``): ``auto@before``, ``wide@before``, ``dense@before`` (the
detector before issue 19), ``auto@r1``, ``dense@r1``, ... (the detector of issue 19's first round,
main at a1001fb: today's without the changes of :data:`ROUND1`), ``auto@r2``, ``dense@r2`` (the
second round's, main at 9ecd0e9: without the face-free proposals, :data:`ROUND2`), ``auto@r3``,
``dense@r3`` (the third round's, main at 80116b8: :data:`ROUND3` undone), ``auto``,
``wide``, ``dense``,
``full`` (today's), and
``<mode>@<variant>[+<variant>]`` single changes on top of the old search (``VARIANTS``: more tile
scales, cross-scale circle merging, tiles in "auto" wherever found people do not cover them,
refined crops, face proposals, a lower tile threshold, duplicate rule). Configurations alternate
image by image so that load from other processes hits them alike.

Usage::

    python benchmarks/detection_crowd.py [--scenes 60] [--seed 0] [--vtest-frames 40]
        [--configs auto@before,wide@before,dense@before,auto,dense] [--quick]
        [--cache ~/.cache/ehps/bench_crowd] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_CONFIGS = "auto@before,wide@before,dense@before,auto,dense"

#: Single changes of the person search (``<mode>@<variant>``), on top of the search before issue
#: 19 (``SearchConfig.baseline()``); keys that are not SearchConfig fields go to the detector.
VARIANTS: dict[str, dict[str, Any]] = {
    "tiles248": {"tile_sides": (1 / 2, 1 / 4, 1 / 8)},
    "tiles2-8": {"tile_sides": (1 / 2, 1 / 3, 1 / 4, 1 / 6, 1 / 8)},
    "circles": {"merge": "circles"},
    "uncovered": {"auto_policy": "uncovered"},
    "refine": {"refine": True},
    "faces": {"face_sides": (1.0, 1 / 2, 1 / 4)},
    "score03": {"tile_min_score": 0.3},
    "dup05": {"duplicate_iou": 0.5},
    "border": {"tile_border": 0.25},
    "parts": {"contained": 0.7},
    "silhouette": {"part_silhouette": 0.3},
    "nosilhouette": {"part_silhouette": 0.0},
    "nozoom": {"zoom_score": 0.0},
    "zoom10": {"zoom_score": 0.10},
    "zoom15": {"zoom_score": 0.15},
    "zoom25": {"zoom_score": 0.25},
    "zoom15x24": {"zoom_score": 0.15, "zoom_max": 24},
    "zoom10x24": {"zoom_score": 0.10, "zoom_max": 24},
    "zoom05x24": {"zoom_score": 0.05, "zoom_max": 24},
    "zoom05x40": {"zoom_score": 0.05, "zoom_max": 40},
    "zoom03x32": {"zoom_score": 0.03, "zoom_max": 32},
    "zoom15s6": {"zoom_score": 0.15, "zoom_side": 1 / 6},
    "noseg": {"segment_proposals": False},
    "noborder": {"border_sides": ()},
    "agree30": {"segment_agreement": 0.3},
    "pres95": {"segment_presence": 0.95},
    "segmin32": {"segment_min_px": 32.0},
    "split": {"segment_split": True},
    "nosplit": {"segment_split": False},
    "rounds": {"segment_rounds": 2},
    "inside": {"segment_inside": 0.8},
    "lwin": {"leftover_sides": (1 / 2, 1 / 4)},
    "lwin4": {"leftover_sides": (1 / 4,)},
    "lwin48": {"leftover_sides": (1 / 4, 1 / 8)},
    "lcov50": {"leftover_cover": 0.5},
    "lcov15": {"leftover_cover": 0.15},
    "agreed95": {"segment_presence_agreed": 0.95},
    "agreed90": {"segment_presence_agreed": 0.90},
    "lconf": {"leftover_confirm": 0.6},
    "lconf5": {"leftover_confirm": 0.5},
    "lconf7": {"leftover_confirm": 0.7},
    "aconf": {"agreed_confirm": 0.6},
    "nolwin": {"leftover_sides": ()},
    "nolconf": {"leftover_confirm": 0.0},
}


#: What issue 19's fourth and fifth rounds added (``<mode>@r3`` undoes it: the search of the
#: third round, main at 80116b8, which was also the default until the fifth round turned the
#: leftover windows with their wider-crop guard on).
ROUND3: dict[str, Any] = {"segment_rounds": 0, "segment_inside": 0.0, "leftover_sides": (),
                          "segment_presence_agreed": 1.0}
#: What issue 19's third round added (``<mode>@r2`` undoes it: the search of the second round).
ROUND2: dict[str, Any] = {"segment_proposals": False, **ROUND3}
#: What today's search changes against issue 19's first round (``<mode>@r1`` undoes it).
ROUND1: dict[str, Any] = {"part_silhouette": 0.0, "zoom_score": 0.0, "min_box_px": 0.0, **ROUND2}


def scenes_and_detector(args: argparse.Namespace) -> tuple[list, Any]:
    """The crowd scenes and the detector of ``detection_misses.py`` / ``detection_found.py``
    (their ``--scenes --seed --cache --data --config --quick`` options; ``--quick``: 8 scenes)."""
    from ehps.bodymodels.anny import load_anny
    from ehps.testing.synthetic_crowd import crowd_scenes, shared_data_dir

    n = 8 if args.quick else args.scenes
    data = args.data or shared_data_dir() or Path(__file__).resolve().parents[2] / "shared" / "data"
    scenes = crowd_scenes(load_anny(), n, args.seed, args.cache or None, str(data))
    return scenes, make_detector(args.config, 2)


def make_detector(name: str, threads: int) -> Any:
    """A detector for a configuration name: ``<mode>`` (today's detector), ``<mode>@before``
    (before issue 19), ``<mode>@r1`` (issue 19's first round), ``<mode>@<variant>[+<variant>
    ...]`` (:data:`VARIANTS` on top of the search before issue 19) or ``<mode>@now+<variant>
    [+...]`` (on top of today's search)."""
    from dataclasses import fields, replace

    from ehps.detection import MediapipeDetector
    from ehps.detection.person_search import SearchConfig

    mode, _, when = name.partition("@")
    common = {"search": mode, "num_threads": threads, "hands": False, "face": False}
    if when == "before":
        return MediapipeDetector.baseline(**common)
    if when == "r1":
        return MediapipeDetector(search_config=replace(SearchConfig(), **ROUND1), **common)
    if when == "r2":
        return MediapipeDetector(search_config=replace(SearchConfig(), **ROUND2), **common)
    if when == "r3":
        return MediapipeDetector(search_config=replace(SearchConfig(), **ROUND3), **common)
    if not when:
        return MediapipeDetector(**common)
    search, detector = {}, {"duplicate_iou": 0.35}
    names = {f.name for f in fields(SearchConfig)}
    base = SearchConfig.baseline()
    if when.startswith("now+"):
        base, when = SearchConfig(), when[4:]
    for part in when.split("+"):
        if part not in VARIANTS:
            raise SystemExit(f"unknown variant {part!r} in {name!r}; known: {sorted(VARIANTS)}")
        for key, value in VARIANTS[part].items():
            (search if key in names else detector)[key] = value
    config = replace(base, **search)
    return MediapipeDetector(search_config=config, **common, **detector)


def _fmt(values: np.ndarray) -> str:
    return " ".join("   -  " if not np.isfinite(v) else f"{v:6.3f}" for v in values)


def crowd(args: argparse.Namespace, names: list[str], detectors: dict[str, Any]) -> dict:
    from ehps.bodymodels.anny import load_anny
    from ehps.testing.crowd_metrics import HEIGHT_BINS, CrowdScore
    from ehps.testing.synthetic_crowd import crowd_scenes

    t0 = time.perf_counter()
    scenes = crowd_scenes(load_anny(), args.scenes, args.seed, args.cache, str(args.data))
    people = [p for s in scenes for p in s.people]
    counted = [p for p in people if not p.ignore]
    print(f"== synthetic crowd: {len(scenes)} images, {len(people)} people "
          f"({len(counted)} counted, {len(people) - len(counted)} less than half visible), "
          f"ready in {time.perf_counter() - t0:.0f} s ==")
    scores = {n: CrowdScore() for n in names}
    for scene in scenes:
        for name in names:
            t1 = time.perf_counter()
            found = detectors[name](scene.image)
            secs = time.perf_counter() - t1
            boxes = np.asarray([p.bbox_xywh for p in found], np.float32).reshape(-1, 4)
            scores[name].add(boxes, np.asarray([p.score for p in found]), scene, secs)
    bins = "  ".join(f"{lo:.0f}-{hi:.0f}" if np.isfinite(hi) else f"{lo:.0f}+"
                     for lo, hi in HEIGHT_BINS)
    print(f"people per bin ({bins} px): {scores[names[0]].people.tolist()}")
    print(f"{'config':14s} {'recall per bin':>20s}   {'precision per bin':>20s}   "
          f"{'R>=80':>6s} {'R40-80':>6s} {'prec':>6s} {'FP':>4s} {'s/img':>6s}   "
          f"{'R>=80 r':>7s} {'R40-80 r':>8s}")
    out = {}
    for name in names:
        s = scores[name]
        o = s.overall()
        out[name] = {**o, "recall": s.recall().tolist(), "precision_bins": s.precision().tolist()}
        print(f"{name:14s} {_fmt(s.recall())}   {_fmt(s.precision())}   "
              f"{o['recall_80plus']:6.3f} {o['recall_40_80']:6.3f} {o['precision']:6.3f} "
              f"{int(o['false_positives']):4d} {o['seconds_per_image']:6.2f}   "
              f"{o['recall_80plus_reasonable']:7.3f} {o['recall_40_80_reasonable']:8.3f}")
    ref = names[0]
    for name in names[1:]:
        a, b = out[name], out[ref]
        print(f"  {name} vs {ref}: time x{a['seconds_per_image'] / b['seconds_per_image']:.2f}")
    print("targets: recall >= 0.90 (>= 80 px), >= 0.60 (40-80 px), precision >= 0.95;  "
          "'r' columns: the 'reasonable' subset (people at least 65 % visible)")
    return out


def vtest(args: argparse.Namespace, names: list[str], detectors: dict[str, Any]) -> dict:
    import cv2

    from ehps.detection.recall import VTEST_PEOPLE, match_torso_centres

    video = Path(args.data) / "vtest.avi"
    if not video.is_file():
        print(f"(no {video}: the video part is skipped)")
        return {}
    cap = cv2.VideoCapture(str(video))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    spread = np.linspace(0, total - 1, args.vtest_frames).astype(int).tolist()
    wanted = sorted(set(spread) | set(VTEST_PEOPLE))
    frames = {}
    for index in wanted:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        if ok:
            frames[index] = np.ascontiguousarray(frame[:, :, ::-1])
    cap.release()
    counted = sum(len(VTEST_PEOPLE[i]) for i in VTEST_PEOPLE if i in frames)
    print(f"\n== vtest.avi: people per frame on {len(spread)} frames; TP / FP on "
          f"{len(VTEST_PEOPLE)} frames ({counted} pedestrians counted by eye) ==")
    print(f"{'config':14s} {'people/frame':>12s} {'TP':>4s} {'FP':>4s} {'recall':>6s} "
          f"{'s/frame':>7s}")
    out = {}
    stats = {n: {"people": [], "tp": 0, "fp": 0, "secs": []} for n in names}
    for index, image in frames.items():
        for name in names:
            t0 = time.perf_counter()
            people = detectors[name](image)
            st = stats[name]
            st["secs"].append(time.perf_counter() - t0)
            if index in spread:
                st["people"].append(len(people))
            if index in VTEST_PEOPLE:
                t, f = match_torso_centres(people, VTEST_PEOPLE[index])
                st["tp"] += t
                st["fp"] += f
    for name in names:
        st = stats[name]
        per_frame = float(np.mean(st["people"]))
        out[name] = {"people_per_frame": per_frame, "tp": st["tp"], "fp": st["fp"],
                     "seconds_per_frame": float(np.mean(st["secs"]))}
        print(f"{name:14s} {per_frame:12.2f} {st['tp']:4d} {st['fp']:4d} "
              f"{st['tp'] / counted:6.2f} {np.mean(st['secs']):7.2f}")
    return out


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vtest-frames", type=int, default=40)
    ap.add_argument("--configs", default=DEFAULT_CONFIGS)
    ap.add_argument("--quick", action="store_true", help="12 scenes, 8 vtest frames")
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "ehps" / "bench_crowd"),
                    help="where rendered scenes are kept ('' = nowhere)")
    ap.add_argument("--data", type=Path, default=None,
                    help="the shared real data (default: shared/data beside the repository)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-vtest", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.quick:
        args.scenes, args.vtest_frames = 12, 8
    args.cache = args.cache or None
    if args.data is None:
        from ehps.testing.synthetic_crowd import shared_data_dir

        args.data = shared_data_dir() or here.parent.parent / "shared" / "data"
    names = args.configs.split(",")
    detectors = {n: make_detector(n, args.threads) for n in names}
    result = {"crowd": crowd(args, names, detectors)}
    if not args.skip_vtest:
        result["vtest"] = vtest(args, names, detectors)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
