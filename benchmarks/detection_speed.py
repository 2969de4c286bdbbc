"""Per-stage speed of the embedded detector, mediapipe Holistic's own time beside it, and the
person-search recall/time trade-off on a surveillance video.

Part 1 (speed): on ``basketball1.png`` (2 people), ``skimage.data.astronaut()`` (1) and one frame
of ``vtest.avi`` (small pedestrians), for the detector with ``search="full"`` (mediapipe's single
view, the like-for-like comparison) and the default ``search="auto"``: median wall time per image
of each stage (decode = reading the PNG file, person detection, pose landmarks, hands, face) and
per person, and ``mp.solutions.holistic.Holistic(static_image_mode=True, model_complexity=1,
refine_face_landmarks=True)`` on the same image in the same run (it finds one person at most),
with the ratio ours / Holistic. Calls alternate between the two so that load from other
processes hits both alike.

Part 2 (recall): every search mode on 8 frames of ``vtest.avi`` whose visible pedestrians were
counted by eye (43 people, ~60-150 px tall): people found, true/false positives, time per frame.

Usage (on a shared machine, wrap in the lock)::

    flock /tmp/ehps_bench.lock python benchmarks/detection_speed.py [--rounds 7]
        [--data ../shared/data] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

#: Visible pedestrians (torso centres, pixels) in frames of vtest.avi, counted by eye.
VTEST_PEOPLE: dict[int, list[tuple[int, int]]] = {
    0: [(267, 262), (515, 192), (662, 280)],
    100: [(362, 240), (393, 218), (437, 220), (507, 185), (528, 188), (603, 195)],
    200: [(95, 185), (235, 230), (500, 185), (687, 125), (712, 125), (632, 320), (722, 305)],
    300: [(200, 195), (255, 188), (310, 190), (328, 255), (597, 195), (630, 200)],
    400: [(288, 245), (603, 170), (715, 355)],
    500: [(320, 220), (575, 275), (588, 335), (627, 320)],
    600: [(197, 180), (580, 245), (687, 255), (472, 360), (655, 355), (305, 500)],
    700: [(197, 200), (293, 250), (380, 210), (413, 180), (485, 165), (532, 195), (705, 260),
          (120, 335)],
}


class _Timed:
    """Proxy that adds the wall time of each call of ``inner`` to ``totals[stage]``."""

    def __init__(self, inner: Any, totals: dict[str, float], stage: str) -> None:
        self._inner, self._totals, self._stage = inner, totals, stage

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self._inner(*args, **kwargs)
        finally:
            self._totals[self._stage] += time.perf_counter() - t0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def instrument(detector: Any) -> dict[str, float]:
    """Time the detector's stages; returns the dict the times accumulate in."""
    totals: dict[str, float] = defaultdict(float)
    detector.pose_detector = _Timed(detector.pose_detector, totals, "person detection")
    detector.pose_landmarker = _Timed(detector.pose_landmarker, totals, "pose")
    detector._hand = _Timed(detector.hand_landmarker, totals, "hands")
    detector._face = _Timed(detector.face_landmarker, totals, "face")
    return totals


def load_images(data: Path) -> dict[str, tuple[np.ndarray, Path | None]]:
    import cv2
    from skimage import data as skdata

    import ehps
    from ehps.io.image import load_image

    bb1 = Path(ehps.__file__).parent / "assets" / "basketball1.png"
    images: dict[str, tuple[np.ndarray, Path | None]] = {
        "basketball1": (load_image(bb1), bb1),
        "astronaut": (np.ascontiguousarray(skdata.astronaut()), None),
    }
    video = data / "vtest.avi"
    if video.is_file():
        cap = cv2.VideoCapture(str(video))
        cap.set(cv2.CAP_PROP_POS_FRAMES, 300)
        ok, frame = cap.read()
        cap.release()
        if ok:
            images["vtest#300"] = (np.ascontiguousarray(frame[:, :, ::-1]), None)
    return images


def speed(images: dict[str, tuple[np.ndarray, Path | None]], rounds: int, threads: int) -> None:
    import mediapipe as mp

    from ehps.detection import MediapipeDetector
    from ehps.io.image import load_image

    holistic = mp.solutions.holistic.Holistic(static_image_mode=True, model_complexity=1,
                                              refine_face_landmarks=True)
    print(f"== speed: median of {rounds} rounds, {threads} threads ==")
    header = (f"{'image':12s} {'search':6s} {'people':>6s} {'decode':>7s} {'detect':>7s} "
              f"{'pose':>6s} {'hands':>6s} {'face':>6s} {'total':>7s} {'/person':>8s} "
              f"{'holistic':>9s} {'ratio':>6s}")
    print(header + "   (ms)")
    for mode in ("full", "auto"):
        det = MediapipeDetector(search=mode, num_threads=threads)
        totals = instrument(det)
        for name, (image, path) in images.items():
            det(image)  # warm-up
            holistic.process(image)
            stages: dict[str, list[float]] = defaultdict(list)
            ours, theirs = [], []
            n_people = 0
            for r in range(rounds):
                order = (0, 1) if r % 2 == 0 else (1, 0)
                for which in order:
                    if which == 0:
                        totals.clear()
                        t0 = time.perf_counter()
                        people = det(image)
                        ours.append(time.perf_counter() - t0)
                        n_people = len(people)
                        for k, v in totals.items():
                            stages[k].append(v)
                    else:
                        t0 = time.perf_counter()
                        holistic.process(image)
                        theirs.append(time.perf_counter() - t0)
                if path is not None:
                    t0 = time.perf_counter()
                    load_image(path)
                    stages["decode"].append(time.perf_counter() - t0)

            def ms(key: str, _s: dict[str, list[float]] = stages) -> str:
                return f"{statistics.median(_s[key]) * 1e3:7.1f}" if _s.get(key) else "    n/a"

            total = statistics.median(ours)
            ref = statistics.median(theirs)
            per_person = total / n_people if n_people else float("nan")
            print(f"{name:12s} {mode:6s} {n_people:6d} {ms('decode')} {ms('person detection')}"
                  f" {ms('pose')[1:]} {ms('hands')[1:]} {ms('face')[1:]} {total * 1e3:7.1f} "
                  f"{per_person * 1e3:8.1f} {ref * 1e3:9.1f} {total / ref:6.2f}")
    holistic.close()


def recall(data: Path, threads: int) -> None:
    import cv2

    from ehps.detection import MediapipeDetector
    from ehps.detection.recall import match_torso_centres
    from ehps.detection.search import search_windows

    video = data / "vtest.avi"
    if not video.is_file():
        print(f"(no {video}: recall part skipped)")
        return
    cap = cv2.VideoCapture(str(video))
    frames = {}
    for index in VTEST_PEOPLE:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        if ok:
            frames[index] = np.ascontiguousarray(frame[:, :, ::-1])
    cap.release()
    total = sum(len(VTEST_PEOPLE[i]) for i in frames)
    print(f"\n== recall on {len(frames)} frames of vtest.avi ({total} pedestrians by eye) ==")
    print(f"{'search':6s} {'windows':>7s} {'found':>5s} {'TP':>4s} {'FP':>4s} {'recall':>6s} "
          f"{'ms/frame':>8s}")
    for mode in ("full", "wide", "auto", "dense"):
        det = MediapipeDetector(search=mode, hands=False, face=False, num_threads=threads)
        tp = fp = found = 0
        times = []
        for index, image in frames.items():
            t0 = time.perf_counter()
            people = det(image)
            times.append(time.perf_counter() - t0)
            t, f = match_torso_centres(people, VTEST_PEOPLE[index])
            tp, fp, found = tp + t, fp + f, found + len(people)
        n_win = len(search_windows(576, 768, "dense" if mode == "auto" else mode))
        print(f"{mode:6s} {n_win:7d} {found:5d} {tp:4d} {fp:4d} {tp / total:6.2f} "
              f"{statistics.median(times) * 1e3:8.0f}")


def main() -> None:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=here.parent.parent / "shared" / "data")
    parser.add_argument("--skip-recall", action="store_true")
    args = parser.parse_args()
    speed(load_images(args.data), args.rounds, args.threads)
    if not args.skip_recall:
        recall(args.data, args.threads)


if __name__ == "__main__":
    main()
