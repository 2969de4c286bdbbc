"""Time and people per photo of the embedded ``ehps infer`` path (person search + landmarks + fit
+ meshes) with today's defaults against the state before issue 19 (``--search-preset baseline
--fit-preset baseline``), side by side in one run.

For each photo (default: the bundled ``basketball1.png`` and ``basketball2.png``, plus
``--images``), the two predictors run alternately ``--repeats`` times (first call of each
excluded: model loading), and the script prints seconds per image, people found, the time ratio
default / baseline per photo and over all photos. Per-stage seconds (``detect``, ``fit``) come from
the predictor's own timings where it records them.

Usage::

    python benchmarks/infer_presets.py [--images a.jpg b.png] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def _predictor(preset: str, search: str):
    from ehps.config.infer import DetectionConfig, EstimatorConfig, InferConfig
    from ehps.inference.predictor import Predictor

    cfg = InferConfig(detection=DetectionConfig(search=search, search_preset=preset),
                      estimator=EstimatorConfig(fit_preset=preset))
    return Predictor.from_pretrained(config=cfg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", nargs="*", default=[])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--search", default="auto")
    ap.add_argument("--quick", action="store_true", help="one timed repeat")
    args = ap.parse_args()
    from ehps.io.image import load_image

    assets = Path(__file__).resolve().parents[1] / "src" / "ehps" / "assets"
    paths = [assets / "basketball1.png", assets / "basketball2.png"] + [Path(p)
                                                                          for p in args.images]
    repeats = 1 if args.quick else args.repeats
    names = ["baseline", "default"]
    predictors = {n: _predictor(n, args.search) for n in names}
    rows: dict[str, dict[str, list[float]]] = {}
    for path in paths:
        image = load_image(path)
        secs: dict[str, list[float]] = {n: [] for n in names}
        people: dict[str, int] = {}
        for name in names:  # warm-up: models load on the first call
            people[name] = len(predictors[name].predict([image])[0].people)
        for _ in range(repeats):
            for name in names:
                t0 = time.perf_counter()
                predictors[name].predict([image])
                secs[name].append(time.perf_counter() - t0)
        rows[path.name] = secs
        h, w = image.shape[:2]
        print(f"{path.name} ({w}x{h}):")
        for name in names:
            print(f"  {name:9s} {np.median(secs[name]):6.2f} s/image  {people[name]:2d} people")
        print(f"  time ratio default / baseline: "
              f"x{np.median(secs['default']) / np.median(secs['baseline']):.2f}")
    total = {n: sum(float(np.median(r[n])) for r in rows.values()) for n in names}
    print(f"all photos: time ratio default / baseline x{total['default'] / total['baseline']:.2f} "
          f"(search {args.search!r}, {repeats} timed repeat(s), median per photo)")


if __name__ == "__main__":
    main()
