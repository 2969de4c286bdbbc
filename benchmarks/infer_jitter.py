"""Jitter of an ``ehps infer`` video result before and after temporal smoothing.

Reads a sequence folder written by ``ehps infer`` on a video (``tracks.npz`` and the per-frame
records in ``state/``, which keep each person's raw, unsmoothed parameters next to the written,
smoothed ones), re-poses the raw parameters with the same body model, and prints per track and
over all tracks the mean joint acceleration (the norm of the second finite difference of the 55
SMPL-X skeleton joints, m/s^2; only triples of consecutive frames where the track was seen), in
the shared camera and root-relative (pelvis subtracted).

    ehps infer ../shared/data/vtest.avi --max-frames 40 --out /tmp/vt
    .venv/bin/python benchmarks/infer_jitter.py /tmp/vt/vtest [--smplx-path DIR] \
        [--settings "1.0,0.5;0.5,0.05"]

``--settings`` also re-smooths the recorded raw parameters offline with other One-Euro
(min_cutoff, beta) pairs, exactly as the pipeline does (translation in the shared camera), and
prints the jitter each gives: a cheap way to tune the smoothing flags for a kind of video.
"""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path

import numpy as np
import torch

from ehps.bodymodels.registry import load_body_model
from ehps.inference.smoothing import ParamSmoother, mean_acceleration
from ehps.io.records import FrameRecord


def raw_joints_full(model, records: list[tuple[FrameRecord, int]]) -> np.ndarray:
    """(N, 55, 3) shared-camera joints of the raw parameters of the given (record, row) pairs."""
    allowed = set(inspect.signature(model.forward).parameters)
    keys = [k for k in records[0][0].raw if k in allowed]
    out = []
    for s in range(0, len(records), 64):
        chunk = records[s : s + 64]
        kw = {k: torch.from_numpy(np.stack([r.raw[k][i].reshape(-1) for r, i in chunk]))
              for k in keys}
        with torch.no_grad():
            j = model(**kw).joints[:, :55].numpy()
        own = np.stack([r.raw["transl"][i].reshape(3) for r, i in chunk])
        full = np.stack([r.raw["transl_full"][i].reshape(3) for r, i in chunk])
        out.append(j - own[:, None] + full[:, None])
    return np.concatenate(out)


def posed_joints_full(model, params: list[dict[str, np.ndarray]]) -> np.ndarray:
    """(N, 55, 3): joints of parameter dicts whose ``transl`` is in the shared camera."""
    allowed = set(inspect.signature(model.forward).parameters) - {"transl"}
    keys = [k for k in params[0] if k in allowed]
    out = []
    for s in range(0, len(params), 64):
        chunk = params[s : s + 64]
        kw = {k: torch.from_numpy(np.stack([np.asarray(p[k], np.float32).reshape(-1)
                                            for p in chunk])) for k in keys}
        with torch.no_grad():
            j = model(**kw).joints[:, :55].numpy()
        out.append(j + np.stack([p["transl"].reshape(1, 3) for p in chunk]))
    return np.concatenate(out)


def resmoothed_jitter(model, pairs: list[tuple[FrameRecord, int]], valid: np.ndarray,
                      fps: float, min_cutoff: float, beta: float) -> tuple[float, float]:
    """Jitter (absolute, root-relative) of one track re-smoothed with other settings."""
    sm = ParamSmoother(min_cutoff, beta, 1.0)
    params = []
    for rec, i in pairs:
        raw = {k: v[i] for k, v in rec.raw.items() if k not in ("transl", "transl_full")}
        raw["transl"] = rec.raw["transl_full"][i].reshape(1, 3)
        params.append(sm(raw, rec.time_s))
    joints = np.zeros((len(valid), 55, 3))
    joints[valid] = posed_joints_full(model, params)
    return (mean_acceleration(joints, fps, valid),
            mean_acceleration(joints - joints[:, :1], fps, valid))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path, help="a video's output folder (holds tracks.npz)")
    ap.add_argument("--smplx-path", default=None)
    ap.add_argument("--min-frames", type=int, default=5, help="skip shorter tracks")
    ap.add_argument("--settings", default="",
                    help="extra 'min_cutoff,beta;...' One-Euro settings to evaluate offline")
    args = ap.parse_args()
    z = dict(np.load(args.folder / "tracks.npz", allow_pickle=False))
    fps = float(z["fps"])
    records = {p: FrameRecord.load(p) for p in sorted((args.folder / "state").glob("*.npz"))}
    by_index = {r.index: r for r in records.values()}
    first = next(iter(by_index.values()))
    with np.load(next((args.folder / "smplx").glob("*.npz"))) as per:
        model_name = str(per["body_model"])
    del first
    model = load_body_model(model_name, args.smplx_path)
    print(f"{args.folder}: {len(by_index)} frames at {fps:g} fps, body model {model_name}")
    print(f"{'track':>5} {'frames':>6}  {'raw m/s2':>9} {'smooth':>8} {'ratio':>6}  "
          f"{'raw rel':>8} {'smooth rel':>10} {'ratio':>6}")
    tot = {"raw": [], "smooth": [], "raw_rel": [], "smooth_rel": []}
    extra = [tuple(float(v) for v in item.split(",")) for item in args.settings.split(";")
             if item.strip()]
    tot_extra: dict[tuple[float, ...], list[tuple[float, float, int]]] = {e: [] for e in extra}
    for tid in z["track_ids"].tolist():
        valid = z[f"t{tid}/valid"]
        frames = z[f"t{tid}/frame_index"]
        if valid.sum() < args.min_frames or z[f"t{tid}/joints"].shape[1:] != (55, 3):
            continue
        pairs = []
        for f in frames[valid]:
            rec = by_index[int(f)]
            pairs.append((rec, int(np.flatnonzero(rec.track_ids == tid)[0])))
        raw = np.zeros_like(z[f"t{tid}/joints"])
        raw[valid] = raw_joints_full(model, pairs)
        smooth = z[f"t{tid}/joints"]
        vals = {
            "raw": mean_acceleration(raw, fps, valid),
            "smooth": mean_acceleration(smooth, fps, valid),
            "raw_rel": mean_acceleration(raw - raw[:, :1], fps, valid),
            "smooth_rel": mean_acceleration(smooth - smooth[:, :1], fps, valid),
        }
        ok = valid[2:] & valid[1:-1] & valid[:-2]
        for e in extra:
            a, r = resmoothed_jitter(model, pairs, valid, fps, e[0], e[1])
            if np.isfinite(a):
                tot_extra[e].append((a, r, int(ok.sum())))
        for k, v in vals.items():
            if np.isfinite(v):
                tot[k].append((v, int(ok.sum())))
        print(f"{tid:>5} {int(valid.sum()):>6}  {vals['raw']:>9.2f} {vals['smooth']:>8.2f} "
              f"{vals['raw'] / vals['smooth']:>5.2f}x  {vals['raw_rel']:>8.2f} "
              f"{vals['smooth_rel']:>10.2f} {vals['raw_rel'] / vals['smooth_rel']:>5.2f}x")
    mean = {k: sum(v * n for v, n in vals) / max(1, sum(n for _, n in vals))
            for k, vals in tot.items()}
    print(f"{'all':>5} {'':>6}  {mean['raw']:>9.2f} {mean['smooth']:>8.2f} "
          f"{mean['raw'] / mean['smooth']:>5.2f}x  {mean['raw_rel']:>8.2f} "
          f"{mean['smooth_rel']:>10.2f} {mean['raw_rel'] / mean['smooth_rel']:>5.2f}x")

    for e, vals in tot_extra.items():
        n = max(1, sum(c for *_, c in vals))
        a = sum(v * c for v, _, c in vals) / n
        r = sum(v * c for _, v, c in vals) / n
        print(f"re-smoothed min_cutoff={e[0]:g} beta={e[1]:g}: {a:.2f} m/s2 "
              f"({mean['raw'] / a:.2f}x less than raw), root-relative {r:.2f} "
              f"({mean['raw_rel'] / r:.2f}x)")


if __name__ == "__main__":
    main()
