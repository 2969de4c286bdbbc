"""Golden outputs of ``ehps infer`` and ``ehps demo``: read an output folder into comparable
arrays and facts, compare them with the committed golden files, or rewrite those files.

What is compared (everything a user gets, reduced to what is stable across machines):

- every array of every ``.npz`` (per-person parameters, frame records, ``tracks.npz``), keyed
  ``<relative path>::<key>``: ``atol`` 1e-4 (float32 results of the same code on the same inputs);
- mesh files (OBJ): every 97th vertex, ``atol`` 1e-4 m;
- overlays (PNG images, frames of MP4 videos): 8x8 mean-pooled pixels; the mean absolute
  difference must stay below 1.5 grey levels (the two rasteriser back-ends differ on edge pixels,
  a moved or missing mesh changes thousands of pixels);
- JSON files (meta, manifests, summaries) with machine-dependent fields (paths, times) replaced
  or dropped: equal, floats to ``rtol`` 1e-4;
- the list of file names.

The golden files live in ``tests/golden/<case>.npz`` (arrays) and ``<case>.json`` (the rest).
Regenerate them with ``tests/golden/regen.sh`` (it runs the golden tests with
``--regen-golden``); a regeneration is a deliberate act that must be explained in its commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ehps.testing.compare_outputs import json_diff

GOLDEN_DIR = Path(__file__).parent / "golden"
#: Tolerances (see the module docstring).
ARRAY_ATOL = 1e-4
IMAGE_MEAN_ABS = 1.5
JSON_RTOL = 1e-4
JSON_ATOL = 1e-6
#: JSON keys dropped everywhere (wall-clock times and dates).
VOLATILE_KEYS = frozenset({"updated", "seconds", "timings_s", "frames_per_s", "seconds_per_person"})
_VERTEX_STEP = 97
_POOL = 8


def pooled(image: np.ndarray) -> np.ndarray:
    """(H, W, C) uint8 -> (H // 8, W // 8, C) float32 block means (edges cropped)."""
    h, w = image.shape[0] // _POOL * _POOL, image.shape[1] // _POOL * _POOL
    img = image[:h, :w].astype(np.float32)
    return img.reshape(h // _POOL, _POOL, w // _POOL, _POOL, -1).mean(axis=(1, 3))


def read_png(path: Path) -> np.ndarray:
    import cv2

    return cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1]


def read_video_frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def obj_vertices(path: Path) -> np.ndarray:
    rows = [line.split()[1:4] for line in path.read_text().splitlines() if line.startswith("v ")]
    return np.asarray(rows, np.float64)[::_VERTEX_STEP]


class Normaliser:
    """Replaces machine-dependent strings (temporary folders) by placeholders in JSON values."""

    def __init__(self, replacements: dict[str, str]) -> None:
        # longest first, so that a folder inside another is replaced by its own name
        self.pairs = sorted(replacements.items(), key=lambda kv: -len(kv[0]))

    def __call__(self, obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: self(v) for k, v in obj.items() if k not in VOLATILE_KEYS}
        if isinstance(obj, list):
            return [self(v) for v in obj]
        if isinstance(obj, str):
            for old, new in self.pairs:
                obj = obj.replace(old, new)
            return obj
        return obj


def collect_npz(path: Path, prefix: str, arrays: dict[str, np.ndarray]) -> None:
    with np.load(path, allow_pickle=False) as z:
        for key in z.files:
            arrays[f"{prefix}::{key}"] = z[key]


def collect_folder(root: Path, norm: Normaliser) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Every output file under ``root`` (see the module docstring)."""
    arrays: dict[str, np.ndarray] = {}
    info: dict[str, Any] = {"files": [], "json": {}}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        info["files"].append(rel)
        suffix = path.suffix.lower()
        if suffix == ".npz":
            collect_npz(path, rel, arrays)
        elif suffix == ".json":
            info["json"][rel] = norm(json.loads(path.read_text()))
        elif suffix == ".obj":
            arrays[f"{rel}::vertices"] = obj_vertices(path)
        elif suffix == ".png":
            arrays[f"{rel}::image"] = pooled(read_png(path))
        elif suffix == ".mp4":
            for i, frame in enumerate(read_video_frames(path)):
                arrays[f"{rel}::frame{i:04d}"] = pooled(frame)
    return arrays, info


def compare(golden: tuple[dict[str, np.ndarray], dict[str, Any]],
            current: tuple[dict[str, np.ndarray], dict[str, Any]]) -> list[str]:
    """Every difference beyond the tolerances, as readable lines (empty: equal)."""
    g_arr, g_info = golden
    c_arr, c_info = current
    problems: list[str] = []
    for key in sorted(set(g_arr) - set(c_arr)):
        problems.append(f"missing array {key}")
    for key in sorted(set(c_arr) - set(g_arr)):
        problems.append(f"new array {key}")
    for key in sorted(set(g_arr) & set(c_arr)):
        a, b = g_arr[key], c_arr[key]
        if a.shape != b.shape or a.dtype.kind != b.dtype.kind:  # pooled pixels: float16
            problems.append(f"{key}: shape/dtype {a.shape} {a.dtype} (golden) != {b.shape} "
                            f"{b.dtype}")
        elif key.endswith("::image") or "::frame" in key:
            diff = float(np.abs(a.astype(np.float64) - b).mean())
            if diff > IMAGE_MEAN_ABS:
                problems.append(f"{key}: mean pooled pixel difference {diff:.2f}")
        elif a.dtype.kind in "fc":
            if not np.allclose(a, b, atol=ARRAY_ATOL, rtol=0, equal_nan=True):
                worst = float(np.nanmax(np.abs(a.astype(np.float64) - b)))
                problems.append(f"{key}: max abs difference {worst:.3g}")
        elif not np.array_equal(a, b):
            problems.append(f"{key}: {a!r} (golden) != {b!r}")
    problems += json_diff(g_info, c_info, atol=JSON_ATOL, rtol=JSON_RTOL,
                          names=("golden", "this run"))
    return problems


def golden_paths(case: str) -> tuple[Path, Path]:
    return GOLDEN_DIR / f"{case}.npz", GOLDEN_DIR / f"{case}.json"


def load_golden(case: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    npz, js = golden_paths(case)
    with np.load(npz, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return arrays, json.loads(js.read_text())


def save_golden(case: str, data: tuple[dict[str, np.ndarray], dict[str, Any]]) -> None:
    npz, js = golden_paths(case)
    npz.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: (v.astype(np.float16) if k.endswith("::image") or "::frame" in k else
                  v.astype(np.float32) if v.dtype == np.float64 else v)
              for k, v in data[0].items()}
    np.savez_compressed(npz, **arrays)
    js.write_text(json.dumps(data[1], indent=1, sort_keys=True) + "\n")


def check_golden(case: str, data: tuple[dict[str, np.ndarray], dict[str, Any]],
                 regen: bool, fail: Callable[[str], Any]) -> None:
    """Compare ``data`` with the golden files of ``case`` (or rewrite them when ``regen``)."""
    if regen:
        save_golden(case, data)
        return
    npz, _ = golden_paths(case)
    if not npz.is_file():
        fail(f"no golden files for {case!r}: run tests/golden/regen.sh")
    problems = compare(load_golden(case), data)
    if problems:
        head = "\n".join(problems[:40])
        more = f"\n... and {len(problems) - 40} more" if len(problems) > 40 else ""
        fail(f"{case}: {len(problems)} difference(s) from the golden outputs:\n{head}{more}")
