"""``ehps infer`` on 1 process against N processes (``--devices N``, Lightning, gloo): the same
inputs in one run, side by side, the wall time of each and their ratio, and a file-by-file check
that both wrote the same results (:func:`ehps.testing.compare_outputs.compare_output_folders`).

Both runs are the command a user types (``python -m ehps infer ...``), so the times include
starting Python, loading the models and, for N processes, starting the extra processes and the
process group. The one-process run uses every thread torch is given; Lightning gives each of the
N processes ``cores / N`` threads.

Inputs: the bundled photos and mirrored copies of them (``--images``, default 8; 4 with
``--quick``), or your own files and folders (``--inputs``). The default estimator is the
embedded fit (no weights); pass further ``ehps infer`` flags after ``--``.

Usage::

    python benchmarks/infer_scaleout.py --quick
    python benchmarks/infer_scaleout.py --devices 2 --images 16
    python benchmarks/infer_scaleout.py --inputs ~/photos -- --checkpoint smplestx_h
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_images(folder: Path, count: int) -> list[Path]:
    """``count`` photos: the bundled ones, mirrored and flipped in turn (different inputs)."""
    import cv2

    import ehps

    assets = Path(ehps.__file__).parent / "assets"
    base = [cv2.imread(str(assets / n)) for n in ("basketball1.png", "basketball2.png")]
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        img = base[i % 2]
        img = img[:, ::-1] if (i // 2) % 2 else img
        img = cv2.resize(img, None, fx=1.0 - 0.1 * ((i // 4) % 3), fy=1.0 - 0.1 * ((i // 4) % 3))
        path = folder / f"img{i:03d}.png"
        cv2.imwrite(str(path), img)
        out.append(path)
    return out


def run(inputs: list[str], out: Path, extra: list[str], devices: int) -> tuple[float, int, str]:
    """One ``ehps infer`` run: (wall seconds, exit status, its last output lines)."""
    cmd = [sys.executable, "-m", "ehps", "infer", *inputs, "--out", str(out), "--quiet", *extra]
    if devices > 1:
        cmd += ["--devices", str(devices), "--accelerator", "cpu"]
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "RANK", "WORLD_SIZE")}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 3):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds, proc.returncode, "\n".join(proc.stdout.strip().splitlines()[-3:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 images")
    parser.add_argument("--images", type=int, default=8, help="generated photos (default 8)")
    parser.add_argument("--inputs", nargs="+", help="your own inputs instead")
    parser.add_argument("--devices", type=int, default=2, help="processes of the second run")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args, extra = parser.parse_known_args(argv)
    extra = [a for a in extra if a != "--"]
    from ehps.testing.compare_outputs import compare_output_folders
    from ehps.utils.system import cpu_summary

    work = args.work or Path(tempfile.mkdtemp(prefix="ehps_scaleout_"))
    inputs = args.inputs or [str(work / "images")]
    if not args.inputs:
        shutil.rmtree(work / "images", ignore_errors=True)
        make_images(work / "images", 4 if args.quick else args.images)
    print(f"machine: {cpu_summary()}")
    print(f"inputs: {' '.join(inputs)}  extra flags: {' '.join(extra) or '-'}")
    rows = {}
    for devices in (1, args.devices):
        out = work / f"out_{devices}"
        shutil.rmtree(out, ignore_errors=True)
        seconds, rc, tail = run(inputs, out, extra, devices)
        summary = json.loads((out / "summary.json").read_text())
        rows[devices] = {"seconds": round(seconds, 2), "pipeline_s": summary["seconds"],
                         "exit": rc, "frames": summary["frames_done"],
                         "people": summary["people"]}
        print(f"\n{devices} process(es): {seconds:.1f} s wall, exit {rc}\n{tail}")
    one, many = rows[1], rows[args.devices]
    diffs, worst = compare_output_folders(work / "out_1", work / f"out_{args.devices}",
                                          atol=1e-6, rtol=1e-5,
                                          replace=(str(work / "out_1"),
                                                   str(work / f"out_{args.devices}")))
    ratio = one["seconds"] / many["seconds"]
    ratio_pipe = one["pipeline_s"] / many["pipeline_s"]
    print(f"\n{'processes':>10} {'wall s':>8} {'run s':>8} {'frames':>7} {'people':>7} "
          f"{'frames/s':>9}")
    for d, r in rows.items():
        print(f"{d:>10} {r['seconds']:>8.1f} {r['pipeline_s']:>8.1f} {r['frames']:>7} "
              f"{r['people']:>7} {r['frames'] / r['seconds']:>9.3f}")
    print("(wall: the whole command; run: rank 0's run_inference, from reading the inputs to "
          "the merged summary, without starting Python and the processes)")
    print(f"speed-up of {args.devices} processes over 1: {ratio:.2f}x wall, {ratio_pipe:.2f}x run")
    print(f"outputs: {'the same' if not diffs else 'DIFFERENT'} (largest float difference "
          f"{worst:.3g}; {len(diffs)} differences)")
    for d in diffs[:10]:
        print("  " + d)
    if args.json:
        print(json.dumps({"rows": rows, "ratio": round(ratio, 3),
                          "ratio_run": round(ratio_pipe, 3), "same": not diffs,
                          "max_abs_diff": worst}))
    return 0 if not diffs else 1


if __name__ == "__main__":
    raise SystemExit(main())
