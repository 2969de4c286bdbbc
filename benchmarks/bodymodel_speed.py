"""Time ehps's SMPL-X layer against ``smplx==0.1.28`` on the same model, side by side.

Both compute vertices + the 144 joints (contour on, no PCA: the official SMPLer-X setting) in
float32 on the CPU, for each batch size. Calls alternate between the two implementations
(ehps first on even rounds, smplx first on odd ones) so that load from other processes hits
both alike; the table gives the median and the minimum per call and the speed-up
``smplx / ehps`` of the medians (also the median of the per-round ratios, and the ratio of the
minima, which are less sensitive to load from other processes). Outputs are compared first, so
both compute the same thing.

Usage (wrap in the shared lock on a shared machine)::

    flock /tmp/ehps_bench.lock python benchmarks/bodymodel_speed.py [--batch 1 64]
        [--rounds 40] [--threads 2] [--model-dir DIR] [--backward]

Without ``--model-dir`` a synthetic SMPL-X model is written to a temporary directory. ``smplx``
is a test-only dependency (``pip install smplx==0.1.28``; its licence is non-commercial).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch


def _params(batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape: int, scale: float) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    return {
        "global_orient": rnd(batch, 3, scale=0.5),
        "body_pose": rnd(batch, 63, scale=0.4),
        "left_hand_pose": rnd(batch, 45, scale=0.4),
        "right_hand_pose": rnd(batch, 45, scale=0.4),
        "jaw_pose": rnd(batch, 3, scale=0.3),
        "leye_pose": rnd(batch, 3, scale=0.1),
        "reye_pose": rnd(batch, 3, scale=0.1),
        "betas": rnd(batch, 10, scale=1.0),
        "expression": rnd(batch, 10, scale=1.0),
        "transl": rnd(batch, 3, scale=1.0),
    }


def _time_pair(
    fns: tuple[Callable[[], object], Callable[[], object]], rounds: int, warmup: int = 3
) -> tuple[list[float], list[float]]:
    for _ in range(warmup):
        fns[0]()
        fns[1]()
    times: tuple[list[float], list[float]] = ([], [])
    for r in range(rounds):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for i in order:
            t0 = time.perf_counter()
            fns[i]()
            times[i].append((time.perf_counter() - t0) * 1e3)
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model-dir", type=Path, default=None,
                    help="directory holding smplx/SMPLX_NEUTRAL.npz (default: synthetic)")
    ap.add_argument("--backward", action="store_true",
                    help="also time forward + backward w.r.t. all parameters")
    args = ap.parse_args(argv)

    import smplx

    from ehps.bodymodels.smplx import SMPLX
    from ehps.bodymodels.synthetic import write_synthetic_smplx

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.model_dir
        if root is None:
            root = Path(tmp)
            write_synthetic_smplx(root / "smplx", seed=0, genders=("neutral",), write_pkl=False)
        ours = SMPLX.from_file(root / "smplx", "neutral")
        model_name = "synthetic" if args.model_dir is None else str(root)
        print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, float32, CPU, "
              f"model: {model_name}")
        print(f"{'batch':>5} {'mode':>8} | {'ehps ms (median / min)':>23} | "
              f"{'smplx ms (median / min)':>24} | speed-up (median)")
        for batch in args.batch:
            with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a 10+10 notice
                ref = smplx.create(str(root), model_type="smplx", gender="neutral",
                                   use_pca=False, use_face_contour=True, num_betas=10,
                                   num_expression_coeffs=10, batch_size=batch)
            params = _params(batch)
            with torch.inference_mode():
                a, b = ours(**params), ref(**params)
                err = max((a.vertices - b.vertices).abs().max().item(),
                          (a.joints - b.joints).abs().max().item())
            assert a.joints.shape == b.joints.shape == (batch, 144, 3)
            assert err < 1e-5, f"outputs differ by {err} m"
            modes: list[tuple[str, Callable[[], object], Callable[[], object]]] = []

            def fwd(model: torch.nn.Module, p: dict = params) -> Callable[[], object]:
                def run() -> object:
                    with torch.inference_mode():
                        out = model(**p)
                        return out.vertices, out.joints

                return run

            modes.append(("forward", fwd(ours), fwd(ref)))
            if args.backward:

                def fwd_bwd(model: torch.nn.Module, p0: dict = params) -> Callable[[], object]:
                    def run() -> object:
                        p = {k: v.clone().requires_grad_(True) for k, v in p0.items()}
                        out = model(**p)
                        (out.vertices.sum() + out.joints.sum()).backward()
                        return None

                    return run

                modes.append(("fwd+bwd", fwd_bwd(ours), fwd_bwd(ref)))
            rounds = args.rounds if batch <= 8 else max(10, args.rounds // 2)
            for name, f_ours, f_ref in modes:
                t_ours, t_ref = _time_pair((f_ours, f_ref), rounds)
                mo, mr = statistics.median(t_ours), statistics.median(t_ref)
                paired = statistics.median(r / o for o, r in zip(t_ours, t_ref))
                print(f"{batch:>5} {name:>8} | {mo:>10.2f} / {min(t_ours):>9.2f}  | "
                      f"{mr:>11.2f} / {min(t_ref):>9.2f}  | {mr / mo:>6.2f}x"
                      f"   (paired {paired:.2f}x, min/min {min(t_ref) / min(t_ours):.2f}x, "
                      f"max |diff| {err:.1e} m)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
