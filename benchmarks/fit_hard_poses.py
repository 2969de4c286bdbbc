"""Fitter configurations side by side on the synthetic hard-pose set and the ordinary synthetic set.

Hard poses (``ehps.fitting.hard_pose_eval``: lunges, kicks, crouches, arms overhead, lying, side
views, self-occlusion, aggregated as "HARD (7 kinds)"; people cut by the image border at the
hips, "truncated", reported beside it; one Anny person per image, known 3D joints) and the
ordinary set of ``benchmarks/fit_synthetic_eval.py`` (``--ordinary N`` images, the same images
as that script for the same seed). Every image is detected once (the default detector); each
fitter configuration then fits the same landmarks, so the figures differ only by the fit. Per
configuration: body PA-MPJPE, root-aligned MPJPE (pose and orientation) and torso tilt error
(pelvis -> neck axis, camera frame), mean and median, per pose kind and overall; PA-MPJPE on the
ordinary set; seconds per fit; ratios against the first configuration.

Configurations (``--configs``, comma-separated, the first is the reference): ``baseline`` (the
fitter before issue 19), ``default`` (today's defaults), and single levers on top of the
baseline (``FitConfig.levers()``: ``+mixture``, ``+world_x2``, ``+starts``, ...) or on top of
today's defaults (``d+starts``, ``d+flip``, ``d+m30``, ``d+m15``, ``d+vis30/50/70``: the
visibility floor of the body confidences; ``d-vis``: today's defaults without it, i.e. the
default fitter before the floor; ``d+legs``: extra starts with one leg's world landmarks
mirrored in depth; ``d+prior``: an extra start from the mixture prior's best component mean;
``d+prior+rest``: that and the relaxed standing start; see ``ehps.fitting.starts``). A suffix
``@<tta>`` picks the landmark variant the configuration fits
(``MediapipeDetector(pose_tta=...)``: ``none``, ``flip-mean``, ``flip``; without a suffix, the
detector's default): ``default@none,default@flip`` compares two landmark variants under one
fitter. Each image is detected once per variant.

Usage::

    python benchmarks/fit_hard_poses.py [--per-kind 6] [--ordinary 20] [--seed 0]
        [--configs baseline,default,default@none] [--quick] [--json out.json] [--save-images DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np


def configs() -> dict[str, Any]:
    """Name -> FitConfig of every configuration this benchmark knows."""
    from dataclasses import replace

    from ehps.fitting.fitter import FitConfig

    now = FitConfig()
    on_default = {  # single changes on top of today's defaults
        "d+starts": replace(now, starts=("world", "upright", "rest")),
        "d+flip": replace(now, starts=("world", "flip")),
        "d+legs": replace(now, starts=("world", "leg_l", "leg_r")),
        "d+prior": replace(now, starts=("world", "prior")),
        "d+prior+rest": replace(now, starts=("world", "prior", "rest")),
        "d+m30": replace(now, mixture_weight=0.3),
        "d+m15": replace(now, mixture_weight=0.15),
        "d-vis": replace(now, visibility_floor=0.0),  # today's fitter without the floor
        "d+vis30": replace(now, visibility_floor=0.3),
        "d+vis50": replace(now, visibility_floor=0.5),
        "d+vis70": replace(now, visibility_floor=0.7),
    }
    return ({"baseline": FitConfig.baseline(), "default": now} | FitConfig.levers()
            | on_default)


def _samples(body_model: Any, per_kind: int, ordinary: int, seed: int,
             ordinary_from: int = 0) -> list[Any]:
    from ehps.fitting.hard_pose_eval import hard_pose_samples
    from ehps.fitting.hard_poses import HARD_POSE_KINDS
    from ehps.fitting.synthetic_eval import make_sample

    kinds = (*HARD_POSE_KINDS, "truncated")
    out = list(hard_pose_samples(body_model, per_kind, seed=seed, kinds=kinds))
    for i in range(ordinary_from, ordinary_from + ordinary):
        s = make_sample(body_model, np.random.default_rng([seed, i]))
        s.kind, s.index = "ordinary", len(out)  # type: ignore[attr-defined]
        out.append(s)
    return out


def _match(people: list[Any], sample: Any) -> int | None:
    from ehps.fitting import synthetic_eval
    from ehps.fitting.hard_pose_eval import match_person

    if sample.kind == "ordinary":  # the rule of fit_synthetic_eval.py, for identical figures
        best = synthetic_eval._match(people, sample)
        return None if best is None else people.index(best)
    return match_person([p.bbox_xywh for p in people], sample)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-kind", type=int, default=6)
    ap.add_argument("--ordinary", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--configs", default="baseline,default")
    ap.add_argument("--quick", action="store_true", help="2 images per kind, 4 ordinary")
    ap.add_argument("--json", default=None)
    ap.add_argument("--search-preset", choices=("default", "baseline"), default="default",
                    help="the person search that finds the landmarks: today's, or the one "
                         "before issue 19 (the fit configurations all see the same detections)")
    ap.add_argument("--ordinary-from", type=int, default=0,
                    help="first ordinary image (to split a long run over processes)")
    ap.add_argument("--before-search", action="store_true",
                    help="the first configuration fits the landmarks of the search before issue "
                         "19 (before vs after of the whole pipeline, not of the fit alone)")
    ap.add_argument("--save-images", default=None, help="overlay + side view per image/config")
    ap.add_argument("--per-sample", action="store_true", help="print every image's errors")
    ap.add_argument("--oracle", choices=("all", "2d", "world"), default=None,
                    help="replace the detected landmarks by exact ones (the model's own points): "
                         "'all' (the fitter's ceiling), only the '2d' points, or only the "
                         "'world' landmarks")
    args = ap.parse_args()
    if args.quick:
        args.per_kind, args.ordinary = 2, 4

    import torch

    from ehps.bodymodels.anny import load_anny
    from ehps.detection import MediapipeDetector

    torch.set_num_threads(1)
    from ehps.detection.pose_tta import POSE_TTA_MODES

    fits = configs()
    names = args.configs.split(",")
    unknown = [n for n in names if n.split("@")[0] not in fits
               or n.partition("@")[2] not in ("", *POSE_TTA_MODES)]
    if unknown:
        raise SystemExit(f"unknown configurations {unknown}; known: {sorted(fits)}, "
                         f"optionally with @{{{','.join(POSE_TTA_MODES)}}}")
    known = {n: fits[n.split("@")[0]] for n in names}
    body_model = load_anny()
    variant = {n: n.partition("@")[2] for n in names}
    detectors = {}
    for v in dict.fromkeys(variant.values()):
        kw = {"pose_tta": v} if v else {}
        detectors[v] = (MediapipeDetector.baseline(**kw) if args.search_preset == "baseline"
                        else MediapipeDetector(**kw))
    t0 = time.perf_counter()
    samples = _samples(body_model, args.per_kind, args.ordinary, args.seed, args.ordinary_from)
    print(f"rendered {len(samples)} images in {time.perf_counter() - t0:.0f} s", flush=True)
    before = MediapipeDetector.baseline() if args.before_search else None
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in samples:
        todo = names
        if before is not None:
            _fit_one(args, s, before(s.image), names[:1], known, body_model, rows)
            todo = names[1:]
        for v, det in detectors.items():
            group = [n for n in todo if variant[n] == v]
            if group:
                _fit_one(args, s, det(s.image), group, known, body_model, rows)
        if args.per_sample:
            _print_sample(rows, names, -1)
    _report(rows, names)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


def _print_sample(rows: dict[str, list[dict[str, Any]]], names: list[str], i: int) -> None:
    line = " ".join(f"{n}: PA {r['pa_mpjpe_mm']:5.1f} tilt {r['tilt_deg']:4.1f}"
                    if not r.get("failed") else f"{n}: not found"
                    for n in names for r in [rows[n][i]])
    r0 = rows[names[0]][i]
    print(f"{r0['index']:3d} {r0['kind']:15s} landmarks {r0['landmark_err']:5.1f}%  {line}",
          flush=True)


def _fit_one(args: argparse.Namespace, s: Any, people: list[Any], names: list[str],
             known: dict[str, Any], body_model: Any, rows: dict[str, list[dict[str, Any]]]
             ) -> None:
    """Fit one image's matched person with each configuration of ``names``."""
    from ehps.fitting.fitter import fit_people
    from ehps.fitting.hard_pose_eval import exact_landmarks, landmark_error, pose_errors

    match = _match(people, s)
    h, w = s.image.shape[:2]
    exact = exact_landmarks(body_model, s)
    lm_err = float("nan") if match is None else landmark_error(people[match], exact)
    if args.oracle == "all" or (args.oracle and match is None):
        people, match = [exact], 0
    elif args.oracle:
        import dataclasses

        mixed = dataclasses.replace(people[match])
        if args.oracle == "2d":
            mixed.body_2d, mixed.body_conf = exact.body_2d, exact.body_conf
        else:
            mixed.body_world = exact.body_world
        people, match = [mixed], 0
    for name in names:  # configurations alternate per image: load hits them alike
        row: dict[str, Any] = {"index": s.index, "kind": s.kind, "landmark_err": lm_err}
        if match is None:
            row["failed"] = True
        else:
            t1 = time.perf_counter()
            est = fit_people((h, w), [people[match]], body_model, s.intrinsics, known[name])
            row["seconds"] = time.perf_counter() - t1
            row.update(pose_errors(est[0].joints_cam[:55], s.joints_cam))
            row["start"] = est[0].extras.get("fit_start")
            if args.save_images:
                _save(Path(args.save_images), s, est, body_model.faces.numpy(), name)
        rows[name].append(row)


def _save(out: Path, sample: Any, est: list[Any], faces: np.ndarray, name: str) -> None:
    import cv2

    from ehps.render import render_overlay

    out.mkdir(parents=True, exist_ok=True)
    img = render_overlay(sample.image, [(e.vertices_cam, faces) for e in est], sample.intrinsics,
                         side_view=True, ssaa=1)
    img = np.concatenate([sample.image, img], axis=1)  # input | overlay | side view
    cv2.imwrite(str(out / f"{sample.index:03d}_{sample.kind}_{name}.png"), img[:, :, ::-1])


def _report(rows: dict[str, list[dict[str, Any]]], names: list[str]) -> None:
    from ehps.fitting.hard_pose_eval import summarise

    kinds = list(dict.fromkeys(r["kind"] for r in rows[names[0]]))
    print(f"\n{'kind':15s} {'config':17s} {'n':>3s} {'fail':>4s} {'PA mean':>8s} {'PA med':>7s} "
          f"{'MPJPE':>7s} {'MPJPE md':>8s} {'tilt':>6s} {'tilt md':>7s} {'s/fit':>6s}")
    from ehps.fitting.hard_poses import HARD_POSE_KINDS

    groups = [(k, [k]) for k in kinds] + [("HARD (7 kinds)", list(HARD_POSE_KINDS))]
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for label, members in groups:
        for name in names:
            sel = [r for r in rows[name] if r["kind"] in members]
            if not sel:
                continue
            s = summarise(sel)
            secs = [r["seconds"] for r in sel if "seconds" in r]
            s["seconds"] = float(np.mean(secs)) if secs else float("nan")
            summary.setdefault(label, {})[name] = s
            print(f"{label:15s} {name:17s} {int(s['samples']):3d} {int(s['failures']):4d} "
                  f"{s['pa_mpjpe_mm_mean']:8.1f} {s['pa_mpjpe_mm_median']:7.1f} "
                  f"{s['mpjpe_mm_mean']:7.1f} {s['mpjpe_mm_median']:8.1f} "
                  f"{s['tilt_deg_mean']:6.1f} {s['tilt_deg_median']:7.1f} {s['seconds']:6.2f}")
    ref = names[0]
    print(f"\nratios against '{ref}' (lower is better):")
    for label in ("HARD (7 kinds)", "truncated", "ordinary"):
        if label not in summary:
            continue
        for name in names[1:]:
            a, b = summary[label][name], summary[label][ref]
            pa = a["pa_mpjpe_mm_mean"] / b["pa_mpjpe_mm_mean"]
            print(f"  {label:14s} {name:17s} PA-MPJPE x{pa:.3f}"
                  f"  MPJPE x{a['mpjpe_mm_mean'] / b['mpjpe_mm_mean']:.3f}"
                  f"  tilt(median) x{a['tilt_deg_median'] / max(b['tilt_deg_median'], 1e-9):.3f}"
                  f"  time x{a['seconds'] / b['seconds']:.2f}")
    print("\ntargets: hard set PA-MPJPE <= 60 mm, median tilt <= 8 deg; ordinary set no worse "
          "than the baseline (58 mm on fit_synthetic_eval.py's 20 images)")


if __name__ == "__main__":
    main()
