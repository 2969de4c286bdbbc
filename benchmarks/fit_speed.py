"""Time the embedded estimator (detection + landmarks + fit) per person, with its stage breakdown,
and the fast paths of the fit side by side with what they replace.

Sections:

A. End to end on the bundled photo (basketball1, 2 people) and the astronaut (scikit-image, 1
   person): detection + landmarks, the fit and each of its stages, seconds per person. Wall-clock
   and process CPU time are both given (on a shared machine CPU time is the steadier figure).
B. The fit with 1 torch thread (the default) against 2 threads, alternating, and the ratio.
C. One objective evaluation (forward + backward of every landmark) on: the full Anny model, the
   landmark view (sliced mesh + memoised rest model), the mesh-free skeleton surrogate; ratios.

Usage (wrap in the shared lock on a shared machine)::

    flock /tmp/ehps_bench.lock python benchmarks/fit_speed.py [--rounds 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch


def _images() -> dict[str, np.ndarray]:
    from ehps.io.image import load_image

    assets = Path(__file__).resolve().parents[1] / "src" / "ehps" / "assets"
    images = {"basketball1": load_image(assets / "basketball1.png")}
    try:
        from skimage import data

        images["astronaut"] = np.ascontiguousarray(data.astronaut())
    except ImportError:
        print("(scikit-image not installed: no astronaut)")
    return images


def _timed(fn, *args, **kwargs):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - w0, time.process_time() - c0


def section_a(est, images: dict[str, np.ndarray], rounds: int) -> dict:
    print("\nA. end to end (median of rounds; seconds)")
    res = {}
    for name, img in images.items():
        est(img)  # warm-up (model files, interpreter, caches)
        rows = []
        for _ in range(rounds):
            result, wall, cpu = _timed(est, img)
            rows.append({**est.timings, "wall": wall, "cpu": cpu, "people": len(result.people)})
        n = rows[0]["people"]
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k != "people"}
        per_person = (med["detect"] + med["fit"]) / max(n, 1)
        stages = [k for k in med if k not in ("detect", "fit", "total", "wall", "cpu")]
        print(f"  {name}: {n} people  detect+landmarks {med['detect']:.3f}  fit {med['fit']:.3f}"
              f"  -> {per_person:.3f} s/person   (wall {med['wall']:.3f}, process CPU "
              f"{med['cpu']:.3f} = {med['cpu'] / max(n, 1):.3f} s/person)")
        print("     fit stages: " + ", ".join(f"{k} {med[k]:.3f}" for k in stages))
        res[name] = {"people": n, "seconds_per_person": per_person, **med}
    return res


def section_b(est, img: np.ndarray, rounds: int) -> dict:
    from ehps.fitting.fitter import fit_people

    print("\nB. fit threads: 1 (default) vs 2, alternating (median seconds, wall / CPU)")
    people = est.detector(img)
    h, w = img.shape[:2]
    times: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    for r in range(rounds):
        for n in ((1, 2) if r % 2 == 0 else (2, 1)):
            cfg = replace(est.fit_config, num_threads=n)
            _, wall, cpu = _timed(fit_people, (h, w), people, est.body_model, None, cfg)
            times[n].append((wall, cpu))
    med = {n: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v))
           for n, v in times.items()}
    print(f"  1 thread: {med[1][0]:.3f} / {med[1][1]:.3f}   2 threads: {med[2][0]:.3f} / "
          f"{med[2][1]:.3f}   ratio (2 threads / 1 thread, wall) {med[2][0] / med[1][0]:.2f}")
    return {"1": med[1], "2": med[2], "ratio_wall": med[2][0] / med[1][0]}


def section_c(body_model, rounds: int) -> dict:
    from ehps.fitting.adapters import make_adapter
    from ehps.fitting.landmarks import landmark_maps, model_keypoints
    from ehps.fitting.skeleton import SkeletonSurrogate

    print("\nC. one evaluation, forward + backward of all landmarks, batch 2 (median ms)")
    adapter = make_adapter(body_model)
    maps = landmark_maps(body_model)
    v = adapter.init_variables(2, torch.float32, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    v["body_pose"] = torch.randn(2, 21, 3, generator=g) * 0.2
    v["transl"] = torch.tensor([[0.0, 0.0, 4.0], [1.0, 0.0, 5.0]])
    surrogate = SkeletonSurrogate(adapter, maps, v)
    free = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "face")

    def run(kind: str) -> float:
        vv = {k: (t.clone().requires_grad_(True) if k in free else t) for k, t in v.items()}
        t0 = time.perf_counter()
        if kind == "surrogate":
            _, kp = surrogate(vv)
        else:
            model = adapter.body_model if kind == "full" else adapter.fit_model
            out = model(**adapter.model_inputs(vv))
            kp = model_keypoints(model, out, maps)
        sum(p.sum() for p in kp.values()).backward()
        return (time.perf_counter() - t0) * 1000.0

    kinds = ("full", "view", "surrogate")
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for k in kinds:
        run(k)
    for r in range(rounds * 4):
        for k in (kinds if r % 2 == 0 else kinds[::-1]):
            times[k].append(run(k))
    med = {k: statistics.median(t) for k, t in times.items()}
    print(f"  full model {med['full']:.1f}   landmark view {med['view']:.1f}   skeleton "
          f"surrogate {med['surrogate']:.1f}")
    print(f"  speed-up: view {med['full'] / med['view']:.1f}x, surrogate "
          f"{med['full'] / med['surrogate']:.1f}x (vs the full model)")
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    torch.set_num_threads(2)
    from ehps.fitting.estimator import EmbeddedEstimator
    from ehps.utils.system import cpu_summary

    info = cpu_summary()
    print(f"CPU: {info['model']}, {info['logical_cores']} logical cores; torch "
          f"{torch.__version__}")
    est = EmbeddedEstimator()
    _ = est.body_model
    images = _images()
    out = {
        "A": section_a(est, images, args.rounds),
        "B": section_b(est, images["basketball1"], args.rounds),
        "C": section_c(est.body_model, args.rounds),
    }
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
