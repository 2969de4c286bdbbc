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

__all__ = ["TIMING_KEYS", "compare_output_folders", "drop_timing", "json_diff"]

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


def json_diff(a: Any, b: Any, atol: float = 0.0, rtol: float = 0.0, where: str = "",
              names: tuple[str, str] = ("a", "b")) -> list[str]:
    """Differences between two parsed JSON values, one readable line each (empty: equal).

    Dicts are compared key by key, lists item by item; a number pair where either side is a
    float is equal when ``|x - y| <= atol + rtol * |y|``; anything else must be ``==``.

    Args:
        a, b: the parsed values.
        atol, rtol: float tolerance (both 0: exactly equal).
        where: the path of ``a`` and ``b`` in their documents (prefix of every line).
        names: how the lines call ``a`` and ``b`` (e.g. ``("golden", "this run")``).
    """
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                out.append(f"{where}.{k}: only in {names[0] if k in a else names[1]}")
            else:
                out += json_diff(a[k], b[k], atol, rtol, f"{where}.{k}", names)
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = [] if len(a) == len(b) else [
            f"{where}: length {len(a)} ({names[0]}) != {len(b)} ({names[1]})"]
        for i, (x, y) in enumerate(zip(a, b)):
            out += json_diff(x, y, atol, rtol, f"{where}[{i}]", names)
        return out
    if isinstance(a, float) or isinstance(b, float):
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
        if numbers and _close(a, b, atol, rtol):
            return []
    elif a == b:
        return []
    return [f"{where}: {a!r} ({names[0]}) != {b!r} ({names[1]})"]


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
            diffs += json_diff(ja, jb, atol, rtol, name)
        elif pa.read_bytes() != pb.read_bytes():
            diffs.append(f"{name}: the bytes differ")
    return diffs, worst
