"""Video speed and quality: today's per-frame pipeline vs the video pipeline, side by side.

Runs ``ehps infer``'s pipeline (:func:`ehps.inference.run_inference`, the embedded estimator,
tracking and One-Euro smoothing on) twice on the same frames, in one process with one predictor:

- ``per_frame`` (``--per-frame``): every frame searched for people, every person fitted cold;
- ``video`` (the default): people followed by their landmarks, full search every
  ``--search-every`` frames, warm-started temporal fits.

and prints per mode: frames/s, seconds per person-frame, seconds per stage, and the ratios.

Quality:

- ``vtest`` (``../shared/data/vtest.avi`` by default, first ``--frames`` frames): median body
  reprojection error (pixels, the fit's own report) and jitter (mean joint acceleration of the
  output joints per track, m/s^2, shared camera, averaged over tracks seen >= 3 frames in a
  row);
- ``synth`` (a rendered walk with 3D truth, :mod:`ehps.fitting.synthetic_video`, cached under
  ``--cache``): body PA-MPJPE (22 joints, mm), jitter of the output joints of each true person
  (and of the truth itself, for reference), id switches (changes of the track id matched to one
  true person), and misses (true person-frames with no output).

Network path (``--network smplerx_s32``, random official-style weights and the synthetic SMPL-X
model: speed does not depend on the values, quality is meaningless): the same two modes on the
first ``--network-frames`` vtest frames; the network's people come from the detector's boxes,
so only the detect stage changes (person search on every frame vs landmark tracking). Prints
frames/s, seconds per person-frame and per stage, and the ratios.

The detect stage's own counts (frames searched, people followed, hands/face carried) are printed
per run (``finder``).

Usage::

    .venv/bin/python benchmarks/video_speed.py --quick            # 24 vtest + 24 synthetic frames
    .venv/bin/python benchmarks/video_speed.py --frames 200 --synth-frames 60
    .venv/bin/python benchmarks/video_speed.py --skip-synth --skip-vtest --network smplerx_s32
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ehps.config import InferConfig
from ehps.inference import Predictor, run_inference
from ehps.inference.smoothing import mean_acceleration

MODES = ("per_frame", "video")
_VTEST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "vtest.avi"


def run_mode(video: Path, frames: int, per_frame: bool, predictor: Predictor, out: Path,
             search_every: int) -> dict[str, Any]:
    """One pipeline run; returns timings and, per frame, the people (track id, box, joints)."""
    cfg = InferConfig()
    cfg.input = replace(cfg.input, max_frames=frames)
    cfg.tracking = replace(cfg.tracking, per_frame=per_frame, search_every=search_every)
    cfg.output = replace(cfg.output, out_dir=str(out))
    cfg.progress = False
    results: list[list[dict[str, Any]]] = []

    def keep(res: Any) -> None:
        results.append([{"track": p.track_id, "box": np.asarray(p.bbox_xywh, np.float64),
                         "joints": np.asarray(p.joints_cam[:55], np.float64),
                         "k": res.intrinsics, "vis": _body_visibility(p),
                         "fallback": p.extras.get("fit_fallback"),
                         "reproj": float(p.extras.get("reproj_px", {}).get("body", np.nan))}
                        for p in res.people])

    finders, restore = _spy_finders()
    t0 = time.perf_counter()
    try:
        report = run_inference([str(video)], cfg, predictor, on_result=keep)
    finally:
        restore()
    seconds = time.perf_counter() - t0
    people = sum(len(r) for r in results)
    stats = [f.stats.to_json() for f in finders if hasattr(f, "stats")]
    return {"seconds": seconds, "frames": len(results), "people": people,
            "fps": len(results) / seconds, "s_per_person_frame": seconds / max(people, 1),
            "timings": {k: round(v, 2) for k, v in report.timings.items() if v > 0},
            "finder": stats[0] if len(stats) == 1 else stats, "results": results}


def _body_visibility(person: Any) -> float:
    """Mean confidence of the person's 33 body landmarks (NaN when not kept)."""
    lm = person.extras.get("landmarks")
    conf = getattr(lm, "body_conf", None)
    return float(np.mean(conf)) if conf is not None else float("nan")


def _spy_finders() -> tuple[list[Any], Any]:
    """Collect the tracking finders the runner makes for each sequence (for their stats);
    returns them and the function that stops collecting."""
    from ehps.inference import runner

    made: list[Any] = []
    original = runner.video_finder

    def spy(finder: Any, tracking: Any) -> Any:
        out = original(finder, tracking)
        made.append(out)
        return out

    def restore() -> None:
        runner.video_finder = original  # type: ignore[assignment]

    runner.video_finder = spy  # type: ignore[assignment]
    return made, restore


def track_jitter(results: list[list[dict[str, Any]]], fps: float) -> float:
    """Mean over tracks of the mean joint acceleration of the output joints (m/s^2)."""
    tracks: dict[int, dict[int, np.ndarray]] = {}
    for f, people in enumerate(results):
        for p in people:
            if p["track"] is not None:
                tracks.setdefault(int(p["track"]), {})[f] = p["joints"]
    vals = []
    for seen in tracks.values():
        frames = sorted(seen)
        if len(frames) < 3:
            continue
        span = range(frames[0], frames[-1] + 1)
        joints = np.stack([seen.get(f, seen[frames[0]]) for f in span])
        valid = np.array([f in seen for f in span])
        acc = mean_acceleration(joints, fps, valid)
        if np.isfinite(acc):
            vals.append(acc)
    return float(np.mean(vals)) if vals else float("nan")


def vtest_quality(run: dict[str, Any], fps: float) -> dict[str, float]:
    errs = [p["reproj"] for r in run["results"] for p in r if np.isfinite(p["reproj"])]
    return {"reproj_body_px_median": float(np.median(errs)) if errs else float("nan"),
            "jitter_mps2": track_jitter(run["results"], fps)}


def synth_quality(run: dict[str, Any], walk: Any) -> dict[str, float]:
    """Quality against the walk's truth, with the estimates matched to the true people by
    their projected body joints (Hungarian, :func:`~ehps.fitting.synthetic_video.
    match_people_joints`: the figures), and, for comparison with earlier reports, by the
    pelvis-in-box test (:func:`~ehps.fitting.synthetic_video.match_people`, keys ``box_*``),
    which gives both people to the front person's box when one hides the other."""
    joints = _synth_figures(run, walk, "joints")
    boxes = _synth_figures(run, walk, "box")
    return {**joints, **{f"box_{k}": v for k, v in boxes.items() if k != "truth_jitter_mps2"}}


def _synth_figures(run: dict[str, Any], walk: Any, matcher: str) -> dict[str, Any]:
    import torch

    from ehps.evaluation.alignment import procrustes_align
    from ehps.fitting.synthetic_video import match_people, match_people_joints

    truth = walk.joints_cam  # (T, P, 55, 3)
    t_n, p_n = truth.shape[:2]
    errs, misses, switches = [], 0, 0
    per_frame = np.full((t_n, p_n), np.nan)
    seq = np.zeros((p_n, t_n, 55, 3))
    valid = np.zeros((p_n, t_n), bool)
    last_id: list[int | None] = [None] * p_n
    for f, people in enumerate(run["results"][:t_n]):
        if matcher == "box":
            boxes = np.array([p["box"] for p in people]).reshape(-1, 4)
            match = match_people(boxes, truth[f], walk.intrinsics)
        else:
            est = np.array([p["joints"] for p in people]).reshape(-1, 55, 3)
            k_est = people[0]["k"] if people else walk.intrinsics
            match = match_people_joints(est, k_est, truth[f], walk.intrinsics)
        for i, n in enumerate(match):
            if n < 0:
                misses += 1
                continue
            p = people[n]
            pred, gt = p["joints"][:22], truth[f, i, :22].astype(np.float64)
            al = procrustes_align(torch.from_numpy(pred), torch.from_numpy(gt)).numpy()
            errs.append(float(np.linalg.norm(al - gt, axis=-1).mean() * 1000))
            per_frame[f, i] = errs[-1]
            seq[i, f], valid[i, f] = p["joints"], True
            if last_id[i] is not None and p["track"] != last_id[i]:
                switches += 1
            last_id[i] = p["track"]
    fps = walk.spec.fps
    jit = [mean_acceleration(seq[i], fps, valid[i]) for i in range(p_n)]
    true_jit = [mean_acceleration(truth[:, i], fps) for i in range(p_n)]
    out: dict[str, Any] = {
        "pa_mpjpe_body_mm": float(np.mean(errs)) if errs else float("nan"),
        "jitter_mps2": float(np.nanmean(jit)), "truth_jitter_mps2": float(np.mean(true_jit)),
        "id_switches": switches, "misses": misses}
    if matcher == "joints":  # per true person, over the frames (JSON only, not printed)
        out["pa_mpjpe_per_frame_mm"] = [[None if np.isnan(e) else round(float(e), 1)
                                         for e in row] for row in per_frame.T]
    return out


def synthetic_walk(cache: Path, frames: int, body_model: Any) -> Any:
    """The rendered walk of ``frames`` frames, rendered once per cache folder."""
    from ehps.fitting.synthetic_video import SyntheticWalk, WalkSpec, render_walk
    from ehps.geometry.camera import Intrinsics

    spec = WalkSpec(frames=frames)
    folder = cache / f"walk_{frames}_{spec.people}_{spec.seed}"
    truth = folder / "truth.npz"
    if truth.is_file() and (folder / "walk.mkv").is_file():
        with np.load(truth, allow_pickle=False) as z:
            return SyntheticWalk(folder / "walk.mkv", Intrinsics(*z["k"].tolist()),
                                 z["joints"], spec)
    walk = render_walk(folder, body_model, spec)
    k = walk.intrinsics
    np.savez(truth, joints=walk.joints_cam, k=np.array([*k.focal, *k.princpt]))
    return walk


def compare(name: str, video: Path, frames: int, predictor: Predictor, search_every: int,
            quality: Any, modes: tuple[str, ...] = MODES) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in modes:
            run = run_mode(video, frames, mode == "per_frame", predictor, Path(tmp) / mode,
                           search_every)
            run.update(quality(run))
            run.pop("results")
            out[mode] = run
    if len(modes) == 1:
        print(f"\n== {name}: {modes[0]} only:", {k: v for k, v in out[modes[0]].items()})
        return out
    a, b = out["per_frame"], out["video"]
    if "pa_mpjpe_per_frame_mm" in a:  # the same person-frames in both modes
        pa = np.array(a["pa_mpjpe_per_frame_mm"], float)
        pb = np.array(b["pa_mpjpe_per_frame_mm"], float)
        both = np.isfinite(pa) & np.isfinite(pb)
        a["pa_mpjpe_common_mm"] = float(pa[both].mean()) if both.any() else float("nan")
        b["pa_mpjpe_common_mm"] = float(pb[both].mean()) if both.any() else float("nan")
        a["common_person_frames"] = b["common_person_frames"] = int(both.sum())
    out["speedup_per_person_frame"] = a["s_per_person_frame"] / b["s_per_person_frame"]
    out["speedup_fps"] = b["fps"] / a["fps"]
    print(f"\n== {name}: {video.name}, {frames} frames")
    keys = [k for k in a if k not in ("timings", "finder") and not isinstance(a[k], list)]
    for k in keys:
        print(f"  {k:28s} {a[k]:>12.4g} {b[k]:>12.4g}" if isinstance(a[k], float | int)
              else f"  {k}: {a[k]} / {b[k]}")
    stages = sorted(set(a["timings"]) | set(b["timings"]))
    print("  stage seconds (per_frame / video):")
    for s in stages:
        print(f"    {s:14s} {a['timings'].get(s, 0):8.2f} {b['timings'].get(s, 0):8.2f}")
    print(f"  finder (video): {b.get('finder')}")
    print(f"  speed-up per person-frame: {out['speedup_per_person_frame']:.2f}x, "
          f"frames/s: {out['speedup_fps']:.2f}x")
    return out


def network_predictor(variant: str, tmp: Path) -> Predictor:
    """A network predictor with random official-style weights and the synthetic SMPL-X model
    (the default detector finds the people)."""
    import torch

    from ehps.bodymodels.synthetic import write_synthetic_smplx
    from ehps.inference.network import NetworkEstimator
    from ehps.modeling import build_model

    torch.manual_seed(0)
    smplx_dir = write_synthetic_smplx(tmp / "smplx", write_pkl=False)
    model = build_model(variant).eval()
    return Predictor(NetworkEstimator(model, smplx_path=str(smplx_dir), name=variant))


def _overridden(config: Any, text: str) -> Any:
    """``config`` (a frozen dataclass) with the ``k=v,k=v`` overrides of ``text``."""
    over = dict(kv.split("=", 1) for kv in text.split(","))
    typed = {k: (v.lower() in ("1", "true", "yes")) if isinstance(getattr(config, k), bool)
             else type(getattr(config, k))(v) for k, v in over.items()}
    return replace(config, **typed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="24 vtest + 24 synthetic frames")
    ap.add_argument("--frames", type=int, default=200, help="vtest frames")
    ap.add_argument("--synth-frames", type=int, default=60)
    ap.add_argument("--video", default=str(_VTEST.resolve()))
    ap.add_argument("--search-every", type=int, default=8)
    ap.add_argument("--skip-vtest", action="store_true")
    ap.add_argument("--skip-synth", action="store_true")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "ehps_video_speed"))
    ap.add_argument("--json", default=None)
    ap.add_argument("--only", choices=MODES, default=None, help="run one mode (tuning)")
    ap.add_argument("--network", default=None, metavar="VARIANT",
                    help="also time the network path with random weights (e.g. smplerx_s32)")
    ap.add_argument("--network-frames", type=int, default=24)
    ap.add_argument("--warm", default="", help="TemporalFitConfig overrides of the video "
                    "mode, e.g. 'iterations=16,face_iterations=0,start=best'")
    ap.add_argument("--fallback", default="", help="FallbackConfig overrides of the video "
                    "mode (the occlusion fallback), e.g. 'enabled=false' or "
                    "'visibility_drop=0.06,reproj_ratio=1.5'")
    args = ap.parse_args()
    modes = (args.only,) if args.only else MODES
    if args.quick:
        args.frames, args.synth_frames = 24, 24
    print("modes: per_frame (--per-frame) | video (default)")
    predictor = Predictor.from_pretrained(None)
    # load the detector's models and the body model outside the timings
    predictor.predict([np.zeros((64, 64, 3), np.uint8)])
    for attr, text in (("temporal", args.warm), ("fallback", args.fallback)):
        if text:
            est = predictor.estimator
            setattr(est, attr, _overridden(getattr(est, attr), text))
            print(f"video mode {attr}:", getattr(est, attr))
    report: dict[str, Any] = {}
    if not args.skip_synth:
        walk = synthetic_walk(Path(args.cache), args.synth_frames, predictor.body_model())
        report["synth"] = compare("synthetic walk (3D truth)", walk.path, args.synth_frames,
                                  predictor, args.search_every,
                                  lambda run: synth_quality(run, walk), modes)
    if not args.skip_vtest:
        from ehps.inference.sources import probe_video

        fps = probe_video(args.video).fps or 25.0
        report["vtest"] = compare("vtest", Path(args.video), args.frames, predictor,
                                  args.search_every, lambda run: vtest_quality(run, fps), modes)
    if args.network:
        with tempfile.TemporaryDirectory() as tmp:
            net = network_predictor(args.network, Path(tmp))
            net.predict([np.zeros((64, 64, 3), np.uint8)])
            report["network"] = compare(
                f"network path ({args.network}, random weights)", Path(args.video),
                args.network_frames, net, args.search_every, lambda run: {}, modes)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
