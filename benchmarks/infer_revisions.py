"""``ehps infer`` of two source trees side by side in one run: this checkout against a git
revision (e.g. the commit before a refactor), through the command line, whose flags both share.

The revision is exported (``git archive``) into a temporary folder and run with the same Python
and packages (``PYTHONPATH`` puts its ``src`` first); each scenario alternates between the two
trees for ``--rounds`` rounds (in a rotated order) and keeps each tree's fastest round, so that a
burst of load from elsewhere on a shared machine does not land on one side only. Inputs are made
once with this checkout's code and are the same files for both trees.

Scenarios (all on the CPU):

- ``network``: a random-weight ``smplerx_s32`` (``.safetensors``) with the synthetic SMPL-X on the
  first ``--frames`` frames of a video, person boxes given (detected once beforehand), tracked
  and smoothed: the pipeline around the network;
- ``network+render``: the same with ``--render`` (overlay video);
- ``embedded``: the embedded estimator (landmarks + Anny fit) on the two bundled photos as a
  ``--sequence``.

Printed per scenario and tree: the run's own time (``summary.json`` ``seconds``: decode to
written files, model loading excluded), frames/s, the wall time of the whole command, and the
ratio new / old (below 1: the checkout is faster).

    flock /tmp/ehps_bench.lock .venv/bin/python benchmarks/infer_revisions.py --rev <commit>
    .venv/bin/python benchmarks/infer_speed.py --against <commit> --quick   (the same)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def default_video() -> Path:
    """``shared/data/vtest.avi`` beside the checkout (or beside a folder above it)."""
    for folder in ROOT.parents:
        candidate = folder / "shared" / "data" / "vtest.avi"
        if candidate.is_file():
            return candidate
    return ROOT.parent / "shared" / "data" / "vtest.avi"


@dataclass
class Scenario:
    name: str
    args: list[str]
    frames: int


def export_revision(rev: str, dest: Path) -> Path:
    """``git archive`` of ``rev`` unpacked into ``dest``; returns its ``src`` folder."""
    dest.mkdir(parents=True, exist_ok=True)
    tar = dest / "rev.tar"
    with tar.open("wb") as fh:
        subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev], stdout=fh,
                       check=True)
    with tarfile.open(tar) as tf:
        tf.extractall(dest, filter="data")
    tar.unlink()
    return dest / "src"


def make_inputs(tmp: Path, video: Path, frames: int) -> dict[str, Path]:
    """Weights, synthetic SMPL-X, a short clip's boxes (this checkout's code)."""
    import numpy as np

    from ehps.bodymodels.synthetic import write_synthetic_smplx
    from ehps.detection import MediapipeDetector
    from ehps.inference.sources import iter_video
    from ehps.modeling import build_model, save_model

    weights = tmp / "smplerx_s32_random.safetensors"
    save_model(build_model("smplerx_s32").eval(), weights)
    smplx_dir = write_synthetic_smplx(tmp / "smplx", write_pkl=False)
    det = MediapipeDetector(hands=False, face=False)
    table = {}
    for f in iter_video(video, 0, frames):
        if f.image is not None:
            boxes, scores = det.detect_people(f.image)
            table[str(f.index)] = [{"bbox": [float(v) for v in b], "score": float(s)}
                                   for b, s in zip(boxes, np.asarray(scores))]
    boxes = tmp / "boxes.json"
    boxes.write_text(json.dumps({"format": "xywh", "boxes": table}))
    return {"weights": weights, "smplx": smplx_dir, "boxes": boxes}


def scenarios(inputs: dict[str, Path], video: Path, frames: int, which: list[str]
              ) -> list[Scenario]:
    assets = ROOT / "src" / "ehps" / "assets"
    net = [str(video), "--checkpoint", str(inputs["weights"]), "--smplx-path",
           str(inputs["smplx"]), "--boxes", str(inputs["boxes"]), "--max-frames", str(frames),
           "--device", "cpu"]
    table = {
        "network": Scenario("network", net, frames),
        "network+render": Scenario("network+render", [*net, "--render"], frames),
        "embedded": Scenario("embedded", [str(assets / "basketball1.png"),
                                          str(assets / "basketball2.png"), "--sequence"], 2),
    }
    return [table[name] for name in which]


def run_once(src: Path | None, scenario: Scenario, out: Path) -> dict[str, float]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "ehps", "infer", *scenario.args, "--out", str(out), "--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=out.parent)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    return {"seconds": float(summary["seconds"]), "wall": wall,
            "frames": float(summary["frames_done"]), "stages": summary.get("timings_s", {})}


def which_ehps(src: Path | None) -> str:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", "import ehps; print(ehps.__file__)"], env=env,
                          capture_output=True, text=True, check=True).stdout.strip()


def compare(rev: str, video: Path, frames: int, rounds: int, which: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="ehps_infer_rev_") as tmp_s:
        tmp = Path(tmp_s)
        old_src = export_revision(rev, tmp / "old")
        trees = {"old": old_src, "new": None}
        print(f"old = {rev}: {which_ehps(old_src)}\nnew = this checkout: {which_ehps(None)}")
        inputs = make_inputs(tmp, video, frames)
        results: dict[str, dict[str, dict[str, float]]] = {}
        for sc in scenarios(inputs, video, frames, which):
            best: dict[str, dict[str, float]] = {}
            labels = list(trees)
            for r in range(rounds):
                for label in labels[r % 2:] + labels[: r % 2]:
                    res = run_once(trees[label], sc, tmp / f"{sc.name}_{label}_{r}")
                    if label not in best or res["seconds"] < best[label]["seconds"]:
                        best[label] = res
            results[sc.name] = best
            o, n = best["old"], best["new"]
            print(f"\n== {sc.name} ({sc.frames} frames, best of {rounds}) ==")
            for label in ("old", "new"):
                b = best[label]
                print(f"  {label}: run {b['seconds']:7.2f} s ({b['frames'] / b['seconds']:.2f} "
                      f"frames/s), whole command {b['wall']:7.2f} s")
                stages = {k: v for k, v in b["stages"].items() if v >= 0.01}
                print("       " + ", ".join(f"{k} {v:.2f}s" for k, v in stages.items()))
            print(f"  ratio new / old: run {n['seconds'] / o['seconds']:.3f}, whole command "
                  f"{n['wall'] / o['wall']:.3f}  (< 1: the checkout is faster)")
    return results


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--scenarios", default="network,network+render,embedded",
                    help="comma-separated: network, network+render, embedded")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rev", required=True, help="git revision to compare against")
    ap.add_argument("--video", type=Path, default=default_video())
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="12 frames, one round")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    add_arguments(ap)
    args = ap.parse_args()
    frames, rounds = (12, 1) if args.quick else (args.frames, args.rounds)
    res = compare(args.rev, args.video, frames, rounds, args.scenarios.split(","))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
