"""Per-instance crop cache: decode small JPEGs instead of whole frames during training.

Decoding a 1920x1080 JPEG costs ~8-10 ms on a server core, more than everything else a sample
needs; a GPU consumes smplerx_s32 samples faster than two such workers decode them (see
``benchmarks/data_throughput.py``). The official code pre-crops AGORA's 4K frames for the same
reason. :func:`build_crop_cache` writes, once, for every item of a source the image region that any
training augmentation can sample (box scaled by up to 1.25 and rotated by up to 60 degrees), at most
``max_box_height`` pixels for the box height, as a JPEG, plus the affine from image pixels to cache
pixels. :class:`CachedSource` serves the original annotations pointing at those files; the training
crop warps the cache with the composed affine, so every target (all in original-image pixels) is
unchanged. Pixels differ from a full-frame crop by JPEG re-encoding (quality 95) and, for boxes
taller than ``max_box_height``, by one extra area-resampling.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from ehps.data.datasets.common import AnnotationSource
from ehps.data.types import Annotation
from ehps.errors import InputError
from ehps.utils.io import atomic_save_npz, atomic_write_bytes

__all__ = ["CachedCrop", "cache_region", "build_crop_cache", "CachedSource"]

_INDEX = "index.npz"


@dataclass(frozen=True)
class CachedCrop:
    """Where an item's cached region lives.

    Attributes:
        path: the cached JPEG.
        image_to_cache: (2, 3) affine from original-image pixels to cache pixels.
    """

    path: str
    image_to_cache: np.ndarray


def cache_region(
    bbox_xywh: np.ndarray, max_scale: float = 1.25, max_rot_deg: float = 60.0
) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) in image pixels covering the crop of ``bbox_xywh`` under any scale up to
    ``max_scale`` and in-plane rotation up to ``max_rot_deg`` (plus a 2-pixel bilinear margin)."""
    x, y, w, h = (float(v) for v in np.asarray(bbox_xywh).reshape(-1)[:4])
    angles = np.deg2rad(np.linspace(0.0, max_rot_deg, 61))
    ext_w = np.max(w * np.cos(angles) + h * np.sin(angles))
    ext_h = np.max(w * np.sin(angles) + h * np.cos(angles))
    cx, cy = x + w / 2.0, y + h / 2.0
    hw, hh = ext_w * max_scale / 2.0 + 2.0, ext_h * max_scale / 2.0 + 2.0
    return cx - hw, cy - hh, cx + hw, cy + hh


def _cache_one(ann: Annotation, max_box_height: float) -> tuple[np.ndarray, np.ndarray]:
    from ehps.io.image import decode_image_file

    if not os.path.isfile(ann.image_path):
        raise InputError(f"cannot read image {ann.image_path}: the file does not exist")
    img = decode_image_file(ann.image_path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    x0, y0, x1, y1 = cache_region(ann.bbox_xywh)
    k = min(1.0, max_box_height / max(float(ann.bbox_xywh[3]), 1.0))
    out_w, out_h = max(1, math.ceil((x1 - x0) * k)), max(1, math.ceil((y1 - y0) * k))
    # image -> cache: translate the region's corner to 0, then scale by k
    to_cache = np.array([[k, 0.0, -x0 * k], [0.0, k, -y0 * k]], np.float64)
    if k < 1.0:  # area-average the region (no aliasing), then place it exactly with a warp
        ix0, iy0 = max(0, int(math.floor(x0))), max(0, int(math.floor(y0)))
        ix1 = min(img.shape[1], int(math.ceil(x1)) + 1)
        iy1 = min(img.shape[0], int(math.ceil(y1)) + 1)
        sub = img[iy0:iy1, ix0:ix1]
        small = cv2.resize(sub, (max(1, round(sub.shape[1] * k)), max(1, round(sub.shape[0] * k))),
                           interpolation=cv2.INTER_AREA)
        sx, sy = small.shape[1] / sub.shape[1], small.shape[0] / sub.shape[0]
        # small pixel centres: (u + 0.5) / s - 0.5 in sub pixels
        small_to_img = np.array([[1 / sx, 0.0, 0.5 / sx - 0.5 + ix0],
                                 [0.0, 1 / sy, 0.5 / sy - 0.5 + iy0], [0.0, 0.0, 1.0]])
        warp = np.vstack([to_cache, [0, 0, 1]]) @ small_to_img
        patch = cv2.warpAffine(small, warp[:2], (out_w, out_h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT)
    else:
        patch = cv2.warpAffine(img, to_cache, (out_w, out_h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT)
    return patch, to_cache.astype(np.float32)


def build_crop_cache(
    source: AnnotationSource,
    out_dir: str | os.PathLike[str],
    max_box_height: float = 512.0,
    quality: int = 95,
) -> Path:
    """Write the crop cache of every item of ``source`` into ``out_dir`` (one JPEG per item and an
    ``index.npz``); returns ``out_dir``. Re-running skips the items already written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[str] = []
    affines = np.zeros((len(source), 2, 3), np.float32)
    for i in range(len(source)):
        ann = source.annotation(i)
        rel = f"{i // 1000:05d}/{i:08d}.jpg"
        target = out / rel
        patch, to_cache = _cache_one(ann, max_box_height)
        if not target.exists():
            ok, buf = cv2.imencode(".jpg", patch, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
            if not ok:
                raise InputError(f"cannot encode the cached crop of item {i} of {source.name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, buf.tobytes())
        paths.append(rel)
        affines[i] = to_cache
    atomic_save_npz(out / _INDEX, paths=np.asarray(paths), image_to_cache=affines,
                    source=np.asarray(source.name), count=np.asarray(len(source)))
    return out


class CachedSource:
    """An :class:`AnnotationSource` whose annotations carry their cached crop
    (``extras["crop_cache"]``: a :class:`CachedCrop`); everything else is the wrapped source's.

    Raises:
        InputError: the cache is missing or was built for a different source / item count.
    """

    def __init__(self, source: AnnotationSource, cache_dir: str | os.PathLike[str]) -> None:
        self.source = source
        self.name = source.name
        self.cache_dir = Path(cache_dir)
        index = self.cache_dir / _INDEX
        if not index.is_file():
            raise InputError(
                f"no crop cache at {self.cache_dir}; build it with "
                "ehps.data.crop_cache.build_crop_cache(source, cache_dir)"
            )
        with np.load(index, allow_pickle=False) as z:
            self._paths = z["paths"]
            self._affines = z["image_to_cache"]
            name, count = str(z["source"]), int(z["count"])
        if name != source.name or count != len(source):
            raise InputError(
                f"crop cache {self.cache_dir} was built for '{name}' with {count} items, not "
                f"'{source.name}' with {len(source)}: rebuild it"
            )

    def __len__(self) -> int:
        return len(self.source)

    def annotation(self, index: int) -> Annotation:
        ann = self.source.annotation(index)
        crop = CachedCrop(str(self.cache_dir / str(self._paths[index])), self._affines[index])
        return replace(ann, extras={**ann.extras, "crop_cache": crop})
