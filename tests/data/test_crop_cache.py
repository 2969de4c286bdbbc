"""Crop cache: the cached region covers every augmentation, targets are unchanged and the crop
matches the full-frame crop up to JPEG re-encoding."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from datatest_builders import write_humandata_dataset

from ehps.data.catalog import DatasetSpec
from ehps.data.crop_cache import CachedSource, build_crop_cache, cache_region
from ehps.data.datasets.common import ListSource
from ehps.data.datasets.humandata_source import HumanDataSource
from ehps.data.training_dataset import TrainingDataset
from ehps.data.transforms import AugParams
from ehps.errors import InputError
from ehps.geometry.crop import crop_transform


def test_region_covers_all_augmentations() -> None:
    bbox = np.array([100.0, 50.0, 150.0, 200.0])
    x0, y0, x1, y1 = cache_region(bbox)
    rng = np.random.default_rng(0)
    for _ in range(200):
        scale, rot = rng.uniform(0.75, 1.25), rng.uniform(-60, 60)
        inv = crop_transform((175.0, 150.0), (150.0, 200.0), scale=scale, rot_deg=rot,
                             inverse=True)
        corners = np.array([[0, 0, 1], [384, 0, 1], [0, 512, 1], [384, 512, 1]], float) @ inv.T
        assert corners[:, 0].min() >= x0 and corners[:, 0].max() <= x1
        assert corners[:, 1].min() >= y0 and corners[:, 1].max() <= y1


@pytest.mark.parametrize("max_box_height", [512.0, 120.0])
def test_cached_samples_match_full_frame_samples(data_root: Path, tmp_path: Path,
                                                 max_box_height: float) -> None:
    write_humandata_dataset(data_root, "A", n=3)
    for i in range(3):  # smooth images so that JPEG re-encoding error stays small
        p = data_root / "A" / f"img_{i}.png"
        cv2.imwrite(str(p), cv2.GaussianBlur(cv2.imread(str(p)), (0, 0), 6))
    src = HumanDataSource(DatasetSpec("A", "humandata", ("preprocessed_datasets/A.npz",), "A"),
                          data_root, shuffle_seed=None)
    cache = build_crop_cache(src, tmp_path / "cache", max_box_height=max_box_height)
    cached = CachedSource(src, cache)
    full_ds, cached_ds = TrainingDataset([src]), TrainingDataset([cached])
    for aug in (AugParams(), AugParams(1.25, 60.0, (1.1, 0.9, 1.0), True),
                AugParams(0.75, -35.0, (1, 1, 1), False)):
        a = full_ds.make_sample(src.annotation(1), aug)
        b = cached_ds.make_sample(cached.annotation(1), aug)
        for name, value in a.as_dict().items():
            if name != "image":
                np.testing.assert_array_equal(getattr(b, name), value, err_msg=name)
        diff = np.abs(a.image - b.image)
        tol = 2.0 / 255 if max_box_height >= 320 else 6.0 / 255  # downsampled cache: blurrier
        assert diff.mean() < tol, (aug, diff.mean())
    assert len(list((tmp_path / "cache").rglob("*.jpg"))) == 3


def test_cache_mismatch_is_refused(data_root: Path, tmp_path: Path) -> None:
    write_humandata_dataset(data_root, "A", n=2)
    src = HumanDataSource(DatasetSpec("A", "humandata", ("preprocessed_datasets/A.npz",), "A"),
                          data_root)
    with pytest.raises(InputError, match="no crop cache"):
        CachedSource(src, tmp_path / "none")
    build_crop_cache(src, tmp_path / "c")
    with pytest.raises(InputError, match="built for 'A' with 2 items"):
        CachedSource(ListSource("A", [src.annotation(0)]), tmp_path / "c")
