"""End-to-end training check on this CPU (issue 6): synthesise data, pre-train an encoder on
keypoint heatmaps, train a narrow SMPLest-X and a narrow SMPLer-X from it, and compare their
held-out MPVPE with the best constant prediction.

Steps (all through the public entry points):

1. ``ehps synth --num N --val M --synthetic-smplx``: N training and M held-out people rendered
   from the synthetic SMPL-X-format model (written next to the data; the losses and the metric
   use the same model).
2. The ViTPose stage of the official recipe, in miniature: ``ehps.training.train`` with the
   preset ``synthetic_pose2d`` (the narrow SMPLer-X with only its keypoint-heatmap loss terms, on
   the same training images), whose encoder :func:`ehps.modeling.save_vitpose_backbone` writes
   as a ViTPose-layout file. ``--pretrain-steps 0`` skips it (both networks from scratch).
3. ``ehps.training.train`` with the presets ``synthetic_smplestx`` / ``synthetic_smplerx``
   (narrow networks, 512x384 input contract, official losses, Adam + per-step cosine) and
   ``model.vitpose`` = that file, logging the training loss and the validation loss / MPVPE to
   ``metrics.csv``.
4. Held-out evaluation of the exported ``model.safetensors``: MPVPE (mean per-vertex error, mm,
   both meshes translated so that their pelvis joints coincide; no rotation alignment) between
   the SMPL-X meshes of the predicted and the ground-truth parameters. Baselines: constant
   predictions from the *training* set's mean parameters, computed two ways: (a) the arithmetic
   mean of every parameter, axis-angle rotations included; (b) per joint the rotation closest to
   the mean rotation matrix (chordal L2 mean), with mean betas / expression. The better (lower)
   of the two is "the best constant prediction".
5. A PNG with the training-loss and validation curves of both runs (baselines drawn in), and a
   JSON file with every figure.

Run (about 57 minutes on 2 cores: 12 min pre-training, 21 min SMPLest-X, 23 min SMPLer-X;
measured 2026-11-25: SMPLest-X 160.6 mm, SMPLer-X 169.4 mm, best constant 279.5 mm; from
scratch, ``--pretrain-steps 0``, 2026-11-24: 248.6 and 195.4 mm)::

    flock /tmp/ehps_bench.lock python scripts/train_synthetic_demo.py --out /tmp/ehps_demo
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def synthesise(out: Path, num: int, val: int, seed: int) -> Path:
    """Run ``ehps synth`` (skipped when the files already exist)."""
    from ehps.cli.main import main

    data = out / "data"
    if (data / "annotations" / "train.npz").is_file() and (
            data / "annotations" / "val.npz").is_file():
        print(f"[synth] reusing {data}")
        return data
    t0 = time.perf_counter()
    rc = main(["synth", "--out", str(data), "--num", str(num), "--val", str(val),
               "--seed", str(seed), "--synthetic-smplx"])
    if rc != 0:
        raise SystemExit(f"ehps synth failed ({rc})")
    print(f"[synth] {num} + {val} samples in {time.perf_counter() - t0:.0f} s")
    return data


def pose_from_params(p: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 53, 3) official-order axis-angle from HumanData ``smplx`` fields."""
    n = p["betas"].shape[0]
    return np.concatenate([p["global_orient"].reshape(n, 1, 3), p["body_pose"].reshape(n, 21, 3),
                           p["left_hand_pose"].reshape(n, 15, 3),
                           p["right_hand_pose"].reshape(n, 15, 3),
                           p["jaw_pose"].reshape(n, 1, 3)], axis=1).astype(np.float32)


def constant_baselines(train_params: dict[str, np.ndarray]) -> dict[str, dict[str, torch.Tensor]]:
    """The two constant predictions of the module docstring (pose (53, 3), betas, expression)."""
    from ehps.geometry.rotations import aa_to_rotmat, rotmat_to_aa
    from ehps.training.head_init import chordal_mean

    pose = torch.tensor(pose_from_params(train_params))
    betas = torch.tensor(train_params["betas"], dtype=torch.float32).mean(0)
    expr = torch.tensor(train_params["expression"], dtype=torch.float32).mean(0)
    rot = aa_to_rotmat(pose.double())
    chordal = torch.stack([chordal_mean(rot[:, k]) for k in range(53)])
    return {
        "arithmetic mean": {"pose": pose.mean(0), "betas": betas, "expr": expr},
        "rotation mean": {"pose": rotmat_to_aa(chordal).float(), "betas": betas, "expr": expr},
    }


def pretrain_backbone(data: Path, out: Path, steps: int | None, overrides: dict) -> dict:
    """Step 2: the ``synthetic_pose2d`` run, its encoder written as a ViTPose-layout file."""
    from ehps.modeling import load_model, save_vitpose_backbone

    info = train_family("pose2d", data, out, steps, overrides)
    path = out / "run_pose2d" / "backbone.pth"
    n = save_vitpose_backbone(load_model(info["result"].model_path), path,
                              meta={"stage": "synthetic_pose2d",
                                    "steps": info["result"].global_step})
    print(f"[pretrain] encoder ({n} tensors) -> {path}")
    return {**info, "backbone": path}


@torch.no_grad()
def evaluate(model_path: Path | None, data: Path, body: torch.nn.Module, family: str,
             baselines: dict[str, dict[str, torch.Tensor]], batch: int = 50) -> dict[str, float]:
    """Held-out MPVPE (mm) of a network and of the constant baselines."""
    from ehps.data import TrainingDataset, collate_samples
    from ehps.modeling import load_model
    from ehps.training.datamodule import humandata_sources
    from ehps.training.module import batch_mpvpe_mm

    sources = humandata_sources(["annotations/val.npz"], data, family, None)
    ds = TrainingDataset(sources, system=family, augment=False, image_uint8=True)
    model = load_model(model_path).eval() if model_path is not None else None
    errs: dict[str, list[torch.Tensor]] = {"model": [], **{k: [] for k in baselines}}
    for start in range(0, len(ds), batch):
        b = collate_samples([ds[i] for i in range(start, min(len(ds), start + batch))])
        n = b.batch_size
        if model is not None:
            pred = model(b.image.float() / 255.0)
            errs["model"].append(batch_mpvpe_mm(body, pred.pose_aa, pred.betas, pred.expression,
                                                b.smplx_pose, b.smplx_shape, b.smplx_expr))
        for name, c in baselines.items():
            errs[name].append(batch_mpvpe_mm(
                body, c["pose"].expand(n, 53, 3), c["betas"].expand(n, 10),
                c["expr"].expand(n, 10), b.smplx_pose, b.smplx_shape, b.smplx_expr))
    return {k: float(torch.cat(v).mean()) for k, v in errs.items() if v}


def train_family(family: str, data: Path, out: Path, steps: int | None, overrides: dict) -> dict:
    """Train one network with its ``synthetic_*`` preset (``family``: ``smplerx``, ``smplestx``
    or ``pose2d``; ``steps``: ``None`` keeps the preset's ``max_steps``)."""
    from ehps.training import apply_overrides, get_train_preset, train

    cfg = get_train_preset(f"synthetic_{family}")
    cfg = apply_overrides(cfg, {
        "name": f"synthetic_{family}",
        "data": {"root": str(data), "humandata": ["annotations/train.npz"],
                 "val_humandata": ["annotations/val.npz"]},
        "model": {"smplx_dir": str(data / "smplx")},
        **({"optim": {"max_steps": steps}} if steps is not None else {}),
    })
    cfg = apply_overrides(cfg, overrides)
    run = out / f"run_{family}"
    t0 = time.perf_counter()
    result = train(cfg, run)
    wall = time.perf_counter() - t0
    print(f"[train] {family}: {result.global_step} steps in {wall / 60:.1f} min")
    return {"result": result, "wall_s": wall, "config": cfg, "metrics_csv": result.metrics_csv}


def plot(runs: dict[str, dict], baseline_mm: dict[str, float], png: Path,
         pretrained: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ehps.training.launch import read_metrics

    colours = {"smplestx": "tab:blue", "smplerx": "tab:orange"}
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    lowest = float("inf")
    for family, info in runs.items():
        col = colours.get(family, "tab:green")
        if info["metrics_csv"] is None:  # a run too short to log anything
            continue
        m = read_metrics(info["metrics_csv"])
        if "train/loss" in m:
            s, v = np.array(m["train/loss"]).T
            k = max(1, min(len(v), max(3, len(v) // 25)))
            axes[0].plot(s, v, color=col, alpha=0.25, lw=0.8)
            axes[0].plot(s[k - 1:], np.convolve(v, np.ones(k) / k, "valid"), color=col, lw=2,
                         label=f"{family} (running mean of {k} logs)")
        if "val/loss" in m:
            s, v = np.array(m["val/loss"]).T
            axes[1].plot(s, v, ".-", color=col, label=family)
        if "val/mpvpe_mm" in m:
            s, v = np.array(m["val/mpvpe_mm"]).T
            lowest = min(lowest, float(v.min()))
            axes[2].plot(s, v, ".-", color=col,
                         label=f"{family} (final {info['mpvpe_mm']:.0f} mm)")
    best = min(baseline_mm.values())
    for (name, value), ls in zip(sorted(baseline_mm.items(), key=lambda kv: kv[1]), ("--", ":")):
        if value <= 1.5 * best:
            axes[2].axhline(value, color="grey", ls=ls,
                            label=f"constant: {name} ({value:.0f} mm)")
        else:  # far off the scale: named only
            axes[2].plot([], [], " ", label=f"constant: {name} ({value:.0f} mm, off scale)")
    axes[2].axhline(0.75 * best, color="green", ls="-.", lw=1,
                    label=f"target: 25% below best constant ({0.75 * best:.0f} mm)")
    axes[2].set_ylim(min(0.6 * best, 0.9 * lowest), 1.25 * best)
    titles = ("training loss (sum of official terms, log)", "validation loss",
              "held-out MPVPE (mm, pelvis-aligned)")
    for ax, title in zip(axes, titles):
        ax.set_title(title)
        ax.set_xlabel("optimiser step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_yscale("log")
    start = ("encoders from the keypoint-heatmap pre-training (synthetic_pose2d)" if pretrained
             else "from scratch")
    fig.suptitle(f"Narrow SMPLest-X / SMPLer-X trained on `ehps synth` data (CPU), {start}")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="work folder (data, runs, figures)")
    ap.add_argument("--num", type=int, default=1000, help="training samples (>= 1000)")
    ap.add_argument("--val", type=int, default=200, help="held-out samples")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--families", nargs="+", default=["smplestx", "smplerx"],
                    choices=["smplestx", "smplerx"])
    ap.add_argument("--steps", type=int, default=None,
                    help="optimiser steps per network (default: the preset's)")
    ap.add_argument("--pretrain-steps", type=int, default=None,
                    help="steps of the keypoint-heatmap encoder pre-training (default: the "
                         "synthetic_pose2d preset's; 0: both networks start from scratch)")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for both runs, e.g. optim.lr=2e-3")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--replot", action="store_true",
                    help="redraw the figure from the runs in --out (no training)")
    args = ap.parse_args()

    import logging

    import lightning  # noqa: F401 (its import sets its loggers to INFO; quieten them after)

    from ehps.bodymodels.smplx import SMPLX
    from ehps.data import HumanData
    from ehps.training.config import parse_dotted

    torch.set_num_threads(args.threads)
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    data = synthesise(args.out, args.num, args.val, args.seed)
    body = SMPLX.from_file(data / "smplx")
    train_params = HumanData(data / "annotations" / "train.npz").param_dict("smplx")
    baselines = constant_baselines(train_params)
    overrides = parse_dotted(args.sets)
    overrides.setdefault("trainer", {})["threads"] = args.threads
    summary: dict = {"train_samples": int(train_params["betas"].shape[0]), "val_samples": args.val,
                     "runs": {}}
    base_mm = evaluate(None, data, body, "smplestx", baselines)
    best_name = min(base_mm, key=base_mm.get)
    summary["baselines_mm"] = base_mm
    summary["best_constant"] = best_name
    print("[eval] constant baselines (mm): "
          + ", ".join(f"{k} {v:.1f}" for k, v in base_mm.items()))
    runs: dict[str, dict] = {}
    if args.replot:
        for family in args.families:
            run = args.out / f"run_{family}"
            mm = evaluate(run / "model.safetensors", data, body, family, {})["model"]
            runs[family] = {"metrics_csv": run / "metrics.csv", "mpvpe_mm": mm}
            print(f"[eval] {family}: MPVPE {mm:.1f} mm")
        plot(runs, base_mm, args.out / "synthetic_demo_curves.png",
             pretrained=(args.out / "run_pose2d" / "backbone.pth").is_file())
        return
    if args.pretrain_steps != 0:
        pre = pretrain_backbone(data, args.out, args.pretrain_steps, overrides)
        summary["pretrain"] = {"preset": "synthetic_pose2d", "backbone": str(pre["backbone"]),
                               "steps": pre["result"].global_step,
                               "wall_min": pre["wall_s"] / 60,
                               "loss_weights": dict(pre["config"].loss_weights)}
        overrides = {**overrides, "model": {**overrides.get("model", {}),
                                            "vitpose": str(pre["backbone"])}}
    for family in args.families:
        info = train_family(family, data, args.out, args.steps, overrides)
        res = evaluate(info["result"].model_path, data, body, family, {})
        info["mpvpe_mm"] = res["model"]
        runs[family] = info
        red = 100.0 * (1.0 - res["model"] / base_mm[best_name])
        summary["runs"][family] = {
            "mpvpe_mm": res["model"], "reduction_vs_best_constant_pct": red,
            "steps": info["result"].global_step, "wall_min": info["wall_s"] / 60,
            "batch_size": info["config"].data.batch_size, "lr": info["config"].optim.lr,
            "model": dict(info["config"].model.overrides),
            "loss_weights": dict(info["config"].loss_weights),
            "target_met": red >= 25.0,
        }
        print(f"[eval] {family}: MPVPE {res['model']:.1f} mm vs best constant "
              f"{base_mm[best_name]:.1f} mm ({best_name}): {red:+.1f}% "
              f"({'target met' if red >= 25 else 'TARGET MISSED'})")
    png = args.out / "synthetic_demo_curves.png"
    plot(runs, base_mm, png, pretrained="pretrain" in summary)
    summary["total_wall_min"] = (time.perf_counter() - t_all) / 60
    summary["curves_png"] = str(png)
    (args.out / "synthetic_demo.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
