"""File-by-file comparison of two ``ehps infer`` output folders (the scale-out test and
``benchmarks/infer_scaleout.py``: N processes against one).

- every file must exist in both folders (the lock file and temporary files aside);
- ``.npz``: the same keys, dtypes and shapes; integer, string and boolean arrays equal, float
  values ``x``, ``y`` within ``|x - y| <= atol + rtol * |y|`` (``atol`` in the arrays' units:
  metres, radians, pixels; NaN only where the other has NaN);
- ``.json``: equal after the fields that record time of day or wall time are dropped
  (:data:`TIMING_KEYS`), with floats within the same tolerance;

Why a tolerance at all: a network estimator batches person crops across frames, and a process
with a share of the frames makes other batches (and may use another number of threads); float32
matrix products then differ in the last bits (about 1e-7 relative). The embedded fitting
estimator fits one frame at a time and gives equal files.
- anything else: the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TIMING_KEYS", "compare_output_folders", "drop_timing"]

#: JSON keys that hold wall times or dates (never equal between two runs).
TIMING_KEYS: frozenset[str] = frozenset({"seconds", "frames_per_s", "timings_s", "updated"})
_SKIP = (".ehps.lock",)


def drop_timing(obj: Any) -> Any:
    """``obj`` (parsed JSON) without the :data:`TIMING_KEYS` at any depth."""
    if isinstance(obj, dict):
        return {k: drop_timing(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [drop_timing(v) for v in obj]
    return obj


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.is_file() and p.name not in _SKIP and ".tmp" not in p.name}


def _close(x: float, y: float, atol: float, rtol: float) -> bool:
    return abs(x - y) <= atol + rtol * abs(y)


def _json_diff(a: Any, b: Any, atol: float, where: str, rtol: float = 0.0) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{where}: keys {sorted(set(a) ^ set(b))} differ"]
        return [d for k in a for d in _json_diff(a[k], b[k], atol, f"{where}.{k}", rtol)]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: lengths {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in
                _json_diff(x, y, atol, f"{where}[{i}]", rtol)]
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return [] if _close(a, b, atol, rtol) else [f"{where}: {a} != {b}"]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def _npz_diff(a: Path, b: Path, atol: float, where: str, rtol: float = 0.0
              ) -> tuple[list[str], float]:
    worst = 0.0
    with np.load(a, allow_pickle=False) as za, np.load(b, allow_pickle=False) as zb:
        if set(za.files) != set(zb.files):
            return [f"{where}: keys {sorted(set(za.files) ^ set(zb.files))} differ"], worst
        out = []
        for k in za.files:
            x, y = za[k], zb[k]
            if x.dtype != y.dtype or x.shape != y.shape:
                out.append(f"{where}:{k}: {x.dtype}{x.shape} != {y.dtype}{y.shape}")
            elif np.issubdtype(x.dtype, np.floating):
                nan = np.isnan(x)
                if not np.array_equal(nan, np.isnan(y)):
                    out.append(f"{where}:{k}: NaN at different places")
                    continue
                d = np.abs(x[~nan].astype(np.float64) - y[~nan])
                err = float(d.max()) if d.size else 0.0
                worst = max(worst, err)
                if not np.all(d <= atol + rtol * np.abs(y[~nan].astype(np.float64))):
                    out.append(f"{where}:{k}: differs by {err:.3g} (atol {atol:g}, rtol "
                               f"{rtol:g})")
            elif not np.array_equal(x, y):
                out.append(f"{where}:{k}: values differ")
        return out, worst


def compare_output_folders(a: str | Path, b: str | Path, atol: float = 0.0, rtol: float = 0.0,
                           replace: tuple[str, str] | None = None) -> tuple[list[str], float]:
    """Differences between two output folders (see the module docstring).

    Args:
        a, b: the folders.
        atol, rtol: tolerance of float values (both 0: exactly equal).
        replace: ``(in a, in b)``: text of ``a``'s JSON strings replaced before comparing (the
            output folders' own paths, which differ).

    Returns:
        ``(differences, largest absolute float difference in the npz files)``: one line per
        difference (empty: equal).
    """
    a, b = Path(a), Path(b)
    fa, fb = _files(a), _files(b)
    diffs = [f"only in {a}: {n}" for n in sorted(fa - fb)]
    diffs += [f"only in {b}: {n}" for n in sorted(fb - fa)]
    worst = 0.0
    for name in sorted(fa & fb):
        pa, pb = a / name, b / name
        if name.endswith(".npz"):
            found, err = _npz_diff(pa, pb, atol, name, rtol)
            diffs += found
            worst = max(worst, err)
        elif name.endswith(".json"):
            ta = pa.read_text(encoding="utf-8")
            if replace is not None:
                ta = ta.replace(json.dumps(replace[0])[1:-1], json.dumps(replace[1])[1:-1])
            ja = drop_timing(json.loads(ta))
            jb = drop_timing(json.loads(pb.read_text(encoding="utf-8")))
            diffs += _json_diff(ja, jb, atol, name, rtol)
        elif pa.read_bytes() != pb.read_bytes():
            diffs.append(f"{name}: the bytes differ")
    return diffs, worst
