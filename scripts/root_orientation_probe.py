"""Diagnostic for issue 6: can a network learn the body's root orientation from `ehps synth`
crops within a CPU step budget, and which readout does it need?

Each probe regresses the camera-frame root rotation (6D -> rotation matrix, L1 on the 9 matrix
entries x 10, as SMPLest-X's ``smplx_orient`` term) from the crops of a synthetic dataset, with
Adam at one learning rate and no augmentation, and prints the mean geodesic error (degrees) on the
training subset and the held-out split every ``--every`` steps. Probes:

- ``cnn-flat``: five stride-2 conv blocks (BatchNorm, ReLU) and a linear layer on the flattened
  8x6 feature map (keeps the spatial layout);
- ``cnn-gap``: the same convs with global average pooling before the linear layer;
- ``vit-flat``: the narrow SMPLest-X encoder (``NARROW_OVERRIDES``, random init; ``--vit-stem
  patch`` for the official patchify stem) with a linear layer on its flattened 16x12 patch
  features.

Measured on 4,000 training / 200 held-out crops, 1,500 steps, lr 3e-4 (constant 49.4 deg):
cnn-flat 24.8, vit-flat with the patchify stem 45.5 (width 192 / depth 4: 48.4 after 1,250),
vit-flat with the conv stem 24.4.

The constant baseline (the chordal mean of the training roots) is printed first.

Run::

    .venv/bin/python scripts/root_orientation_probe.py --data /tmp/ehps_demo/data \\
        --probes cnn-flat cnn-gap vit-flat --steps 600
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import roma
import torch
import torch.nn.functional as F
from torch import nn


def load_split(data: Path, split: str, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Crops (N, 3, 256, 192) float in [0, 1] and root rotations (N, 3, 3) of one split."""
    from ehps.data import TrainingDataset, collate_samples
    from ehps.geometry.rotations import aa_to_rotmat
    from ehps.training.datamodule import humandata_sources

    sources = humandata_sources([f"annotations/{split}.npz"], data, "smplestx", None)
    ds = TrainingDataset(sources, system="smplestx", augment=False, image_uint8=True)
    n = min(limit, len(ds))
    images, roots = [], []
    for start in range(0, n, 100):
        b = collate_samples([ds[i] for i in range(start, min(n, start + 100))])
        images.append(F.interpolate(b.image.float() / 255.0, size=(256, 192), mode="area"))
        roots.append(aa_to_rotmat(b.smplx_pose[:, 0].float()))
    return torch.cat(images), torch.cat(roots)


def geodesic_deg(r1: torch.Tensor, r2: torch.Tensor) -> torch.Tensor:
    """(N,) angle in degrees between two sets of rotation matrices (N, 3, 3)."""
    return torch.rad2deg(roma.rotmat_geodesic_distance(r1, r2))


def _conv_trunk() -> nn.Sequential:
    """Five 3x3 stride-2 conv / BatchNorm / ReLU blocks (256x192 -> 128 x 8x6): the conv stem's
    layers with one more block."""
    from ehps.modeling.backbones.vit import STEM_CHANNELS, ConvStem

    return ConvStem(128, channels=(*STEM_CHANNELS, 128)).convs


class _VitFlat(nn.Module):
    def __init__(self, **encoder_overrides: int | str) -> None:
        super().__init__()
        from ehps.modeling import build_model
        from ehps.modeling.backbones.vit import PATCH_GRID_HW
        from ehps.training.presets import NARROW_OVERRIDES

        overrides = {**NARROW_OVERRIDES["smplestx"], **encoder_overrides}
        self.encoder = build_model("smplestx_s", **overrides).encoder
        dim = int(overrides["embed_dim"])
        self.head = nn.Linear(dim * PATCH_GRID_HW[0] * PATCH_GRID_HW[1], 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat, _tokens = self.encoder(x)
        return self.head(feat.flatten(1))


def build_probe(name: str, **vit_overrides: int | str) -> nn.Module:
    if name == "cnn-flat":
        return nn.Sequential(_conv_trunk(), nn.Flatten(), nn.Linear(128 * 8 * 6, 6))
    if name == "cnn-gap":
        return nn.Sequential(_conv_trunk(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(128, 6))
    if name == "vit-flat":
        return _VitFlat(**vit_overrides)
    raise SystemExit(f"unknown probe {name!r}: cnn-flat, cnn-gap or vit-flat")


def run_probe(name: str, train: tuple[torch.Tensor, torch.Tensor],
              val: tuple[torch.Tensor, torch.Tensor], steps: int, lr: float, every: int,
              seed: int, vit_overrides: dict[str, int | str] | None = None) -> float:
    """Train one probe; returns the final held-out error (degrees).

    ``vit_overrides`` (``embed_dim``, ``depth``, ``num_heads``, ``stem``) change the ``vit-flat``
    encoder beyond ``NARROW_OVERRIDES``."""
    from ehps.geometry.rotations import rot6d_to_rotmat

    torch.manual_seed(seed)
    x, y = train
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    std = x.std(dim=(0, 2, 3), keepdim=True)
    net = build_probe(name, **(vit_overrides or {}))
    opt = torch.optim.Adam(net.parameters(), lr)
    gen = torch.Generator().manual_seed(seed)

    def predict(images: torch.Tensor) -> torch.Tensor:
        return rot6d_to_rotmat(net((images - mean) / std).reshape(-1, 1, 6))[:, 0]

    t0 = time.perf_counter()
    val_err = float("nan")
    for step in range(1, steps + 1):
        idx = torch.randint(len(x), (16,), generator=gen)
        loss = (predict(x[idx]) - y[idx]).abs().mean() * 10.0
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % every == 0 or step == steps:
            net.eval()
            with torch.no_grad():
                tr_err = float(geodesic_deg(predict(x[:200]), y[:200]).mean())
                val_err = float(geodesic_deg(predict(val[0]), val[1]).mean())
            net.train()
            print(f"  {name} step {step}: train {tr_err:.1f} deg, held-out {val_err:.1f} deg "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return val_err


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="an `ehps synth` folder")
    ap.add_argument("--num", type=int, default=1000, help="training samples used")
    ap.add_argument("--probes", nargs="+", default=["cnn-flat", "cnn-gap", "vit-flat"])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vit-dim", type=int, help="vit-flat embed_dim (default: the narrow preset)")
    ap.add_argument("--vit-depth", type=int, help="vit-flat depth")
    ap.add_argument("--vit-heads", type=int, help="vit-flat num_heads")
    ap.add_argument("--vit-stem", choices=("patch", "conv"),
                    help="vit-flat stem (default: the narrow preset's, conv)")
    args = ap.parse_args()

    from ehps.training.head_init import chordal_mean

    torch.set_num_threads(args.threads)
    train = load_split(args.data, "train", args.num)
    val = load_split(args.data, "val", 10**9)
    const = chordal_mean(train[1].double()).float()
    base = float(geodesic_deg(const.expand_as(val[1]), val[1]).mean())
    print(f"{len(train[0])} training / {len(val[0])} held-out crops; constant (chordal mean of "
          f"the training roots): held-out {base:.1f} deg")
    vit = {k: v for k, v in (("embed_dim", args.vit_dim), ("depth", args.vit_depth),
                             ("num_heads", args.vit_heads), ("stem", args.vit_stem))
           if v is not None}
    results = {name: run_probe(name, train, val, args.steps, args.lr, args.every, args.seed, vit)
               for name in args.probes}
    for name, err in results.items():
        print(f"{name}: held-out {err:.1f} deg after {args.steps} steps (constant {base:.1f})")


if __name__ == "__main__":
    main()
