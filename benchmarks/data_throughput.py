"""Data pipeline throughput versus the training step's consumption (smplerx_s32).

Builds a synthetic HumanData dataset on disk (JPEG images of a chosen size, official-style boxes,
keypoints and SMPL-X labels), then measures in one run:

1. the loader: ``DataLoader(TrainingDataset, MultiDatasetSampler, collate_samples)`` with
   ``--workers`` worker processes and official augmentation (decode, crop, augment, targets,
   collate), in samples/s;
2. optionally the same for rows without 3D keypoints, whose SMPL-X fit joints go through the
   SMPL-X layer in the workers (``--fit-joints``), and on a per-instance crop cache
   (``--crop-cache``, :mod:`ehps.data.crop_cache`);
3. the training step of ``smplerx_s32`` at ``--batch``: forward, SMPL-X forward of the
   prediction, SMPLer-X losses, backward, Adam step, in samples/s, on ``--device``;

and prints the ratio loader / consumption (> 1: the loader is not the bottleneck).

Run under the shared lock: ``flock /tmp/ehps_bench.lock python benchmarks/data_throughput.py``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from ehps.bodymodels.synthetic import write_synthetic_smplx
from ehps.data import (
    DatasetSpec,
    MultiDatasetSampler,
    TrainingDataset,
    collate_samples,
    keypoints_to_human_data,
    write_humandata,
)
from ehps.data.datasets.humandata_source import HumanDataSource


def build_dataset(root: Path, name: str, rows: int, hw: tuple[int, int], images: int,
                  with_3d: bool, seed: int = 0) -> DatasetSpec:
    """A HumanData file + ``images`` JPEGs (natural-looking content from the bundled photo)."""
    rng = np.random.default_rng(seed)
    base = cv2.imread(str(Path(__file__).resolve().parents[1] / "src/ehps/assets/basketball1.png"))
    h, w = hw
    img_dir = root / name
    img_dir.mkdir(parents=True, exist_ok=True)
    for k in range(images):
        img = cv2.resize(np.roll(base, 37 * k, axis=1), (w, h), interpolation=cv2.INTER_LINEAR)
        noise = rng.integers(-12, 13, size=img.shape, dtype=np.int16)
        img = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        cv2.imwrite(str(img_dir / f"{k:04d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    bw = rng.uniform(0.15, 0.35, rows) * w
    bh = bw / 0.75 * rng.uniform(0.8, 1.2, rows)
    x0, y0 = rng.uniform(0, w - bw), rng.uniform(0, np.maximum(h - bh, 1))
    joints = rng.normal(scale=0.25, size=(rows, 144, 3)).astype(np.float32)
    joints[..., 2] += 3.0
    f = 1.2 * w
    cx = (x0 + bw / 2)[:, None]
    cy = (y0 + bh / 2)[:, None]
    kp2 = np.stack([joints[..., 0] / joints[..., 2] * f + cx, joints[..., 1] / joints[..., 2] * f
                    + cy, np.ones((rows, 144))], -1).astype(np.float32)
    k2, m2 = keypoints_to_human_data(kp2)
    kw: dict = dict(
        image_path=[f"{i % images:04d}.jpg" for i in range(rows)],
        bbox_xywh=np.stack([x0, y0, bw, bh, np.ones(rows)], 1),
        keypoints2d=k2, keypoints2d_mask=m2,
        lhand_bbox_xywh=np.stack([cx[:, 0] - 20, cy[:, 0], np.full(rows, 40.0),
                                  np.full(rows, 40.0), np.ones(rows)], 1),
        rhand_bbox_xywh=np.stack([cx[:, 0] + 20, cy[:, 0], np.full(rows, 40.0),
                                  np.full(rows, 40.0), np.ones(rows)], 1),
        face_bbox_xywh=np.stack([cx[:, 0] - 20, y0, np.full(rows, 40.0), np.full(rows, 50.0),
                                 np.ones(rows)], 1),
        smplx={"global_orient": rng.normal(scale=0.3, size=(rows, 3)),
               "body_pose": rng.normal(scale=0.2, size=(rows, 21, 3)),
               "left_hand_pose": rng.normal(scale=0.2, size=(rows, 15, 3)),
               "right_hand_pose": rng.normal(scale=0.2, size=(rows, 15, 3)),
               "jaw_pose": np.zeros((rows, 3)), "expression": rng.normal(size=(rows, 10)),
               "betas": rng.normal(size=(rows, 10)), "transl": np.tile([0, 0, 3.0], (rows, 1))},
        meta={"height": np.full(rows, h), "width": np.full(rows, w)},
    )
    if with_3d:
        k3, m3 = keypoints_to_human_data(np.concatenate([joints, np.ones((rows, 144, 1))], -1))
        kw.update(keypoints3d=k3, keypoints3d_mask=m3)
    write_humandata(root / "preprocessed_datasets" / f"{name}.npz", **kw)
    return DatasetSpec(name, "humandata", (f"preprocessed_datasets/{name}.npz",), name)


def loader_rate(dataset: TrainingDataset, batch: int, workers: int, batches: int) -> float:
    sampler = MultiDatasetSampler(dataset.lengths, "balance", batch * (batches + 2), seed=0)
    sampler.set_epoch(0)
    loader = DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers,
                        collate_fn=collate_samples, drop_last=True,
                        persistent_workers=False, prefetch_factor=4 if workers else None)
    it = iter(loader)
    next(it)
    next(it)  # warm-up: worker start, first decodes
    t0 = time.perf_counter()
    n = 0
    for b in it:
        n += b.batch_size
    return n / (time.perf_counter() - t0)


def step_rate(batch_data, body, device: str, steps: int) -> float:
    from ehps.losses import smplerx_losses
    from ehps.modeling import build_model

    model = build_model("smplerx_s32").to(device).train()
    body = body.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    data = batch_data.to(device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        pred = model(data.image)
        joints = body(**pred.smplx_params()).joints
        loss = smplerx_losses(pred, data, joints)["total"]
        loss.backward()
        opt.step()

    step()  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return steps * data.batch_size / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=512)
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--image-hw", type=int, nargs=2, default=(1080, 1920))
    ap.add_argument("--batch", type=int, default=32, help="per-process batch (official S: 32)")
    ap.add_argument("--workers", type=int, nargs="+", default=[2],
                    help="worker counts to time; the first one is compared with the step")
    ap.add_argument("--batches", type=int, default=12, help="timed loader batches")
    ap.add_argument("--steps", type=int, default=2, help="timed training steps")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--fit-joints", action="store_true",
                    help="also time rows without 3D keypoints (SMPL-X layer in the workers)")
    ap.add_argument("--crop-cache", action="store_true",
                    help="also time the loader on a per-instance crop cache (ehps.data.crop_cache)")
    ap.add_argument("--cache-box-height", type=float, default=512.0,
                    help="crop cache resolution: box height in cache pixels")
    ap.add_argument("--uint8", action="store_true",
                    help="also time the loader producing uint8 images (converted on the device)")
    ap.add_argument("--skip-step", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        from ehps.bodymodels.smplx import load_smplx

        body = load_smplx(write_synthetic_smplx(root / "models" / "smplx", seed=0))
        spec = build_dataset(root, "with3d", args.rows, tuple(args.image_hw), args.images, True)
        ds = TrainingDataset([HumanDataSource(spec, root)], body_model=body)
        rows = []
        rates = {w: loader_rate(ds, args.batch, w, args.batches) for w in args.workers}
        for w, r in rates.items():
            rows.append((f"loader, {w} workers, 3D keypoints", r))
        rate = rates[args.workers[0]]
        one = loader_rate(ds, args.batch, 0, max(2, args.batches // 3))
        rows.append(("loader, in-process (0 workers), 3D keypoints", one))
        if args.crop_cache:
            from ehps.data.crop_cache import CachedSource, build_crop_cache

            t0 = time.perf_counter()
            src = HumanDataSource(spec, root)
            cache_dir = build_crop_cache(src, root / "crop_cache", args.cache_box_height)
            build_s = time.perf_counter() - t0
            cds = TrainingDataset([CachedSource(src, cache_dir)], body_model=body)
            for w in args.workers:
                rows.append((f"loader, {w} workers, crop cache {args.cache_box_height:.0f}",
                             loader_rate(cds, args.batch, w, args.batches)))
            if args.uint8:
                uds = TrainingDataset([CachedSource(src, cache_dir)], image_uint8=True)
                for w in args.workers:
                    rows.append((f"loader, {w} workers, crop cache, uint8",
                                 loader_rate(uds, args.batch, w, args.batches)))
            rows.append((f"(crop cache build: {build_s:.1f} s for {len(src)} items)", float("nan")))
        if args.fit_joints:
            spec2 = build_dataset(root, "fit", args.rows, tuple(args.image_hw), args.images,
                                  False, seed=1)
            ds2 = TrainingDataset([HumanDataSource(spec2, root)], body_model=body)
            w = args.workers[0]
            rows.append((f"loader, {w} workers, SMPL-X fit joints",
                         loader_rate(ds2, args.batch, w, args.batches)))
        print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
              f"images {args.image_hw[1]}x{args.image_hw[0]} JPEG, batch {args.batch}")
        consume = None
        if not args.skip_step:
            sample = collate_samples([ds[(i, i)] for i in range(args.batch)])
            consume = step_rate(sample, body, args.device, args.steps)
        for name, r in rows:
            ratio = "" if consume is None or r != r else f"   {r / consume:5.2f}x the step"
            print(f"{name:<50s} {r:9.1f} samples/s{ratio}")
        if consume is not None:
            print(f"{'smplerx_s32 training step on ' + args.device:<50s} {consume:9.1f} samples/s")
            ok = rate > consume
            print(f"loader with {args.workers[0]} workers, full frames: {rate / consume:.2f}x the "
                  f"step -> {'loader is NOT the bottleneck' if ok else 'LOADER BOUND'}")

if __name__ == "__main__":
    main()
