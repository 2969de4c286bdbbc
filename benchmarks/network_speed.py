"""Throughput of the SMPLer-X / SMPLest-X networks on this CPU, beside the matmul peak.

For each variant, batch size and precision mode this prints images/s and the achieved fraction
of the matmul peak measured in the same run (model FLOPs per image x images/s / peak of the
mode's dtype). Model FLOPs are counted by ``torch.utils.flop_counter`` on one forward pass
(matmuls, convolutions and attention; element-wise work is not counted). It also prints how far
bf16-autocast poses are from fp32 ones (geodesic angle, radians) on the same random batch.

Weights are the official random initialisation (no released weights are available offline);
speed does not depend on the values.

Timings are best-of-N (see ``_timeit``). On a machine shared with other jobs, pass
``--threads 1``: with 2 OpenMP threads and one core taken by another process every parallel region
waits for the descheduled thread, which distorts small-batch timings far more than it slows a
single thread.

Run (serialised with the other benchmarks on a shared machine):

    flock /tmp/ehps_bench.lock .venv/bin/python benchmarks/network_speed.py
    flock /tmp/ehps_bench.lock .venv/bin/python benchmarks/network_speed.py \
        --variants smplerx_h32,smplestx_h --batches 1
    flock /tmp/ehps_bench.lock .venv/bin/python benchmarks/network_speed.py --compile

Targets on an AMX CPU (2 cores): smplerx_b32 at batch 8 fp32 >= 60 % of the fp32 matmul peak;
bf16 >= 2x faster than fp32 with poses within 0.02 rad.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from typing import Any

import roma
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from ehps.modeling import build_model
from ehps.utils.system import amx_bf16_available, cpu_summary

POSE_FIELDS = (
    "global_orient_rotmat",
    "body_pose_rotmat",
    "left_hand_pose_rotmat",
    "right_hand_pose_rotmat",
    "jaw_pose_rotmat",
)


def _timeit(fn: Callable[[], Any], repeats: int, warmup: int, min_time: float = 0.0) -> float:
    """Best (minimum) seconds per call over at least ``repeats`` timed calls and ``min_time``
    seconds, after ``warmup`` calls. The minimum, not the median, because on a shared machine
    other processes only ever add time; the same rule is applied to the matmul peak."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_peak(dtype: torch.dtype, min_time: float = 1.0) -> float:
    """Best FLOP/s of square matmuls (1024, 2048, 4096) in ``dtype``, each timed best-of over at
    least ``min_time`` seconds."""
    best = 0.0
    for n in (1024, 2048, 4096):
        a = torch.randn(n, n).to(dtype)
        b = torch.randn(n, n).to(dtype)
        with torch.inference_mode():
            t = _timeit(lambda a=a, b=b: a @ b, 3, warmup=1, min_time=min_time)
        best = max(best, 2 * n**3 / t)
    return best


def model_flops(model: torch.nn.Module, images: torch.Tensor) -> float:
    """FLOPs of one forward per image (matmul / conv / attention ops)."""
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(images)
    return counter.get_total_flops() / images.shape[0]


def bf16_pose_error(model: torch.nn.Module, images: torch.Tensor) -> dict[str, float]:
    """Geodesic angle (radians) between bf16-autocast and fp32 rotations of all 53 joints.

    Besides median / 95th percentile / max, ``max_conditioned`` is the maximum over rotations
    whose raw 6D columns are not nearly parallel (|cos| < 0.9 in the fp32 output): Gram-Schmidt
    amplifies any input error where they are, and random weights produce such outputs far more
    often than trained ones.
    """
    with torch.inference_mode():
        ref = model(images)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(images)
    angles = torch.cat([roma.rotmat_geodesic_distance(getattr(ref, f), getattr(low, f)).flatten()
                        for f in POSE_FIELDS])
    six = ref.pose_6d.reshape(-1, 3, 2)
    cos = F.cosine_similarity(six[..., 0], six[..., 1], dim=-1).abs()
    conditioned = angles[cos < 0.9] if bool((cos < 0.9).any()) else angles
    return {
        "median": float(angles.median()),
        "p95": float(angles.quantile(0.95)),
        "max": float(angles.max()),
        "max_conditioned": float(conditioned.max()),
    }


def run_variant(name: str, args: argparse.Namespace, peaks: dict[str, float]) -> list[dict]:
    torch.manual_seed(0)
    model = build_model(name).eval()
    rows = []
    images1 = torch.rand(1, 3, 512, 384)
    flops = model_flops(model, images1)
    err = bf16_pose_error(model, torch.rand(4, 3, 512, 384))
    print(
        f"\n{name}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params, "
        f"{flops / 1e9:.1f} GFLOP/img; bf16 vs fp32 pose angle (rad): median {err['median']:.4f}, "
        f"p95 {err['p95']:.4f}, max {err['max']:.4f}, max where 6D is well-conditioned "
        f"{err['max_conditioned']:.4f}",
        flush=True,
    )
    modes = args.modes.split(",")
    if args.compile:
        modes += [m + "+compile" for m in modes if "compile" not in m]
    for batch in args.batches:
        images = torch.rand(batch, 3, 512, 384)
        base = None
        for mode in modes:
            net = model
            if "compile" in mode:
                net = torch.compile(model, dynamic=False)
            dtype_ctx = (
                (lambda: torch.autocast("cpu", dtype=torch.bfloat16))
                if mode.startswith("bf16")
                else contextlib.nullcontext
            )

            def step(net=net, images=images, ctx=dtype_ctx):
                with torch.inference_mode(), ctx():
                    net(images)

            t0 = time.perf_counter()
            step()  # first call (compilation for compiled modes)
            first = time.perf_counter() - t0
            sec = _timeit(step, args.repeats, warmup=1, min_time=args.min_time)
            ips = batch / sec
            peak = peaks["bf16" if mode.startswith("bf16") else "fp32"]
            frac = flops * ips / peak
            base = base or ips
            row = {
                "variant": name,
                "batch": batch,
                "mode": mode,
                "ms_per_batch": sec * 1e3,
                "images_per_s": ips,
                "fraction_of_peak": frac,
                "speedup_vs_fp32": ips / base,
                "first_call_s": first,
                "gflop_per_image": flops / 1e9,
                "bf16_pose_err_rad": err,
            }
            rows.append(row)
            print(
                f"  B={batch:<2} {mode:<13} {sec * 1e3:9.1f} ms/batch {ips:8.2f} img/s "
                f"{100 * frac:5.1f}% of {('bf16' if mode.startswith('bf16') else 'fp32')} peak  "
                f"x{ips / base:4.2f} vs fp32"
                + (f"  (compile {first:.0f} s)" if "compile" in mode else ""),
                flush=True,
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--variants",
        default="smplerx_s32,smplerx_b32,smplerx_l32,smplestx_s,smplestx_b,smplestx_l",
        help="comma-separated zoo names (add smplerx_h32,smplestx_h if RAM allows)",
    )
    parser.add_argument("--batches", default="1,8", help="comma-separated batch sizes")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=2.0, help="min seconds timed per row")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--modes", default="fp32,bf16", help="fp32, bf16, fp32+compile, ...")
    parser.add_argument(
        "--compile", action="store_true", help="also time each mode under torch.compile"
    )
    parser.add_argument("--json", default=None, help="write the rows to this JSON file")
    args = parser.parse_args()
    args.batches = [int(b) for b in args.batches.split(",")]
    if args.threads:
        torch.set_num_threads(args.threads)

    info = cpu_summary()
    print(
        f"CPU: {info['model']} | threads {torch.get_num_threads()} | AMX-BF16 "
        f"{amx_bf16_available()} | torch {torch.__version__}"
    )
    rows = []
    for name in args.variants.split(","):
        # re-measure the peak right before each variant: on a shared machine the load changes,
        # and each variant's fractions should use the peak of the same moment
        peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
        print(
            f"\nmatmul peak now: fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s, "
            f"bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s",
            flush=True,
        )
        rows += [dict(r, peak_gflops=peaks) for r in run_variant(name.strip(), args, peaks)]
    end = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    print(
        f"\nmatmul peak (end): fp32 {end['fp32'] / 1e9:.0f} GFLOP/s, "
        f"bf16 {end['bf16'] / 1e9:.0f} GFLOP/s (each variant's fractions use the peak measured "
        "just before it)"
    )
    if args.json:
        from ehps.utils.io import atomic_write_json

        atomic_write_json(args.json, {"cpu": info, "peaks_end": end, "rows": rows})


if __name__ == "__main__":
    main()
