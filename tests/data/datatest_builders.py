"""Builders for tiny on-disk datasets used by the data tests (imported by name: pytest puts
this folder on ``sys.path``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ehps.data.humandata_writer import keypoints_to_human_data, write_humandata

IMG_HW = (480, 640)
FOCAL, PRINCPT = 500.0, (320.0, 240.0)


def make_joints(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 144, 3) camera-frame joints of a person ~3 m in front of the camera."""
    j = rng.normal(scale=0.25, size=(n, 144, 3)).astype(np.float32)
    j[..., 2] += 3.0
    return j


def project(j: np.ndarray) -> np.ndarray:
    return np.stack([j[..., 0] / j[..., 2] * FOCAL + PRINCPT[0],
                     j[..., 1] / j[..., 2] * FOCAL + PRINCPT[1]], axis=-1).astype(np.float32)


def smplx_params(rng: np.random.Generator, n: int, hands: bool = True) -> dict[str, np.ndarray]:
    p = {
        "global_orient": rng.normal(scale=0.3, size=(n, 3)),
        "body_pose": rng.normal(scale=0.2, size=(n, 21, 3)),
        "betas": rng.normal(scale=0.5, size=(n, 10)),
        "jaw_pose": rng.normal(scale=0.1, size=(n, 3)),
        "expression": rng.normal(scale=0.3, size=(n, 10)),
        "transl": np.tile([0.0, 0.2, 3.0], (n, 1)),
    }
    if hands:
        p["left_hand_pose"] = rng.normal(scale=0.2, size=(n, 15, 3))
        p["right_hand_pose"] = rng.normal(scale=0.2, size=(n, 15, 3))
    return {k: v.astype(np.float32) for k, v in p.items()}


def write_image(path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, size=(*IMG_HW, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


def write_humandata_dataset(
    root: Path, name: str, n: int, seed: int = 0, with_3d: bool = True, hands: bool = True,
    **extra: object,
) -> dict:
    """A HumanData file at ``root/preprocessed_datasets/<name>.npz`` with images in
    ``root/<name>/``; returns the arrays written."""
    rng = np.random.default_rng(seed)
    j = make_joints(rng, n)
    kp2 = np.concatenate([project(j), np.ones((n, 144, 1), np.float32)], -1)
    k2, m2 = keypoints_to_human_data(kp2)
    kw: dict = dict(
        image_path=[f"img_{i % 3}.png" for i in range(n)],
        bbox_xywh=np.tile([200.0, 90.0, 240.0, 320.0, 1.0], (n, 1)),
        keypoints2d=k2, keypoints2d_mask=m2,
        lhand_bbox_xywh=np.tile([230.0, 250.0, 40.0, 40.0, 1.0], (n, 1)),
        rhand_bbox_xywh=np.tile([370.0, 250.0, 40.0, 40.0, 0.0], (n, 1)),
        face_bbox_xywh=np.tile([300.0, 100.0, 50.0, 60.0, 1.0], (n, 1)),
        smplx=smplx_params(rng, n, hands),
        meta={"height": np.full(n, IMG_HW[0]), "width": np.full(n, IMG_HW[1])},
    )
    if with_3d:
        k3, m3 = keypoints_to_human_data(np.concatenate([j, np.ones((n, 144, 1), np.float32)], -1))
        kw.update(keypoints3d=k3, keypoints3d_mask=m3)
    kw.update(extra)
    for i in range(3):
        write_image(root / name / f"img_{i}.png", seed=i)
    write_humandata(root / "preprocessed_datasets" / f"{name}.npz", **kw)
    return {"joints": j, **kw}
