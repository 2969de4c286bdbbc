"""Synthetic crowd photos with the true box of every person: the detector's recall benchmark.

Each scene holds 1-12 Anny people (:mod:`ehps.bodymodels.anny`) in varied poses
(:mod:`ehps.fitting.hard_poses`: mostly standing and walking, facing every direction, some
lunging, kicking, crouching, arms up, bending over or lying), dressed in clothes-like colours,
rendered with the project's torch rasteriser (:func:`ehps.render.render_mesh_image`, 2x2
supersampled) over a real photo: a temporal median of ``vtest.avi`` (a street with its
pedestrians removed), the two ``basketball`` frames, and scikit-image's photos and textures.
People are 40-400 px tall (log-uniform), placed anywhere (about one in five cut by an image
border) and z-tested against each other, so the nearer (bigger) ones occlude the others.

Truth per person (image pixels): the *visible* box (the person's own pixels in the rendered
image), the *amodal* box (its whole silhouette, which may extend beyond the image), its height
(the amodal box's longer side; lying people count by their length) and its visible fraction
(visible pixels over the pixels of its whole silhouette rendered alone on an unbounded canvas).
People less than :data:`MIN_VISIBLE` visible are marked ``ignore``: a detector need not find them,
and finding them is no error. Real people in a background photo are ``ignore_regions``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MIN_VISIBLE",
    "HEIGHT_RANGE",
    "CrowdPerson",
    "CrowdScene",
    "Background",
    "crowd_backgrounds",
    "shared_data_dir",
    "make_crowd_scene",
    "save_scene",
    "load_scene",
    "crowd_scenes",
]

#: People less visible than this (fraction of their silhouette) are "ignore" people.
MIN_VISIBLE: float = 0.5
#: Range of person heights (pixels, amodal box long side), sampled log-uniformly.
HEIGHT_RANGE: tuple[float, float] = (40.0, 400.0)

#: (kind, probability) of the people's poses.
_POSE_MIX: tuple[tuple[str, float], ...] = (
    ("standing", 0.55), ("side_view", 0.10), ("arms_overhead", 0.06), ("lunge", 0.05),
    ("kick", 0.05), ("crouch", 0.07), ("self_occlusion", 0.09), ("lying", 0.03),
)  # fmt: skip
_SIZES: tuple[tuple[int, int], ...] = ((480, 640), (576, 768))
_ASSETS = Path(__file__).resolve().parents[1] / "assets"
#: Real people in the bundled basketball frames (640x480, xywh), counted by eye.
_BASKETBALL_PEOPLE = ((28.0, 75.0, 140.0, 405.0), (428.0, 18.0, 212.0, 462.0))


@dataclass
class CrowdPerson:
    """The truth of one rendered person (pixels of the scene image).

    Attributes:
        box_xywh: (4,) float32 box of the person's visible pixels.
        amodal_xywh: (4,) float32 box of the whole silhouette (may leave the image).
        height_px: the amodal box's longer side.
        visible_fraction: visible pixels / pixels of the whole silhouette.
        kind: the pose kind.
        ignore: less than :data:`MIN_VISIBLE` visible (neither a miss nor a false positive).
    """

    box_xywh: np.ndarray
    amodal_xywh: np.ndarray
    height_px: float
    visible_fraction: float
    kind: str
    ignore: bool


@dataclass
class CrowdScene:
    """A rendered crowd: ``image`` (H, W, 3) uint8 RGB, its ``people``, ``ignore_regions``
    (K, 4) float32 xywh boxes of real people in the background, the background's name."""

    image: np.ndarray
    people: list[CrowdPerson]
    ignore_regions: np.ndarray
    background: str
    index: int = 0
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class Background:
    """A background photo (H, W, 3) uint8 and the boxes (K, 4) xywh of real people in it."""

    name: str
    image: np.ndarray
    people_xywh: np.ndarray


def _vtest_median(path: Path, frames: int = 48) -> np.ndarray | None:
    """Per-pixel temporal median of ``frames`` frames spread over the video: the street without
    its (moving) pedestrians."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    stack = []
    for i in np.linspace(0, max(total - 1, 0), frames).astype(int):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(i))
        ok, frame = cap.read()
        if ok:
            stack.append(frame[:, :, ::-1])
    cap.release()
    if len(stack) < 8:
        return None
    return np.ascontiguousarray(np.median(np.stack(stack), axis=0).astype(np.uint8))


def shared_data_dir() -> Path | None:
    """The project's shared real data (``shared/data`` beside the repository or one of its
    parents, as in a checkout next to ``../shared``), or ``$EHPS_SHARED_DATA``; ``None`` when
    there is none."""
    import os

    env = os.environ.get("EHPS_SHARED_DATA")
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return None


@functools.lru_cache(maxsize=2)
def crowd_backgrounds(data_dir: str | None = None) -> tuple[Background, ...]:
    """The background photos: the vtest median and the basketball frames (from ``data_dir``,
    default :func:`shared_data_dir`, else the bundled assets) and scikit-image's photos and
    textures when it is installed."""
    from ehps.io.image import load_image

    shared = shared_data_dir()
    data = Path(data_dir) if data_dir is not None else (shared or _ASSETS)
    out: list[Background] = []
    none = np.zeros((0, 4), np.float32)
    video = data / "vtest.avi"
    if video.is_file():
        median = _vtest_median(video)
        if median is not None:
            out.append(Background("vtest_median", median, none))
    for name in ("basketball1", "basketball2"):
        path = data / f"{name}.png"
        path = path if path.is_file() else _ASSETS / f"{name}.png"
        if path.is_file():
            out.append(Background(name, load_image(path),
                                  np.asarray(_BASKETBALL_PEOPLE, np.float32)))
    try:
        from skimage import data as skdata
    except ImportError:
        skdata = None
    if skdata is not None:
        for name in ("coffee", "chelsea", "rocket", "brick", "grass", "gravel"):
            img = np.asarray(getattr(skdata, name)())
            if img.ndim == 2:
                img = np.repeat(img[:, :, None], 3, axis=2)
            out.append(Background(name, np.ascontiguousarray(img[:, :, :3]), none))
        left = np.asarray(skdata.stereo_motorcycle()[0])[:, :, :3]
        out.append(Background("motorcycle", np.ascontiguousarray(left), none))
    if not out:
        raise FileNotFoundError(f"no background photos found in {data} or {_ASSETS}")
    return tuple(out)


def _background(rng: np.random.Generator, bg: Background, hw: tuple[int, int]
                ) -> tuple[np.ndarray, np.ndarray]:
    """A random crop of ``bg`` scaled to ``hw`` (the image, and its people boxes moved along)."""
    import cv2

    h, w = hw
    src = bg.image
    s = max(h / src.shape[0], w / src.shape[1]) * rng.uniform(1.0, 1.4)
    size = (math.ceil(src.shape[1] * s), math.ceil(src.shape[0] * s))
    scaled = cv2.resize(src, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    y = int(rng.integers(0, scaled.shape[0] - h + 1))
    x = int(rng.integers(0, scaled.shape[1] - w + 1))
    boxes = bg.people_xywh * s - np.array([x, y, 0, 0], np.float32)
    tint = rng.uniform(0.8, 1.1, 3)
    img = np.clip(scaled[y : y + h, x : x + w] * tint, 0, 255).astype(np.uint8)
    return img, boxes.astype(np.float32).reshape(-1, 4)


def _pose_kind(rng: np.random.Generator) -> str:
    kinds, probs = zip(*_POSE_MIX)
    p = np.asarray(probs, np.float64)
    return str(kinds[int(rng.choice(len(kinds), p=p / p.sum()))])


def _person_mesh(body_model: Any, rng: np.random.Generator, k: Any, hw: tuple[int, int],
                 elevation: float) -> tuple[np.ndarray, np.ndarray, str]:
    """One posed, placed person: camera-frame vertices (V, 3), per-vertex colours, pose kind."""
    import torch

    from ehps.fitting.hard_poses import placement_rotation, sample_pose
    from ehps.fitting.synthetic_eval import clothing_colors
    from ehps.geometry.rotations import rotmat_to_aa

    h, w = hw
    kind = _pose_kind(rng)
    pose, placement = sample_pose(rng, kind)
    if kind != "side_view":
        placement = {**placement, "yaw": float(rng.uniform(-180.0, 180.0))}
    rot = torch.from_numpy(placement_rotation(rng, placement, elevation_deg=(elevation,
                                                                             elevation)))
    pheno = np.clip(rng.normal(0.5, 0.15, 6), 0.1, 0.9)
    pheno[1] = rng.uniform(0.55, 0.9)
    params = {"global_orient": rotmat_to_aa(rot)[None].float(),
              "body_pose": torch.from_numpy(pose)[None],
              "phenotype": torch.from_numpy(pheno.astype(np.float32))[None]}
    with torch.no_grad():
        verts = body_model(**params).vertices[0]
        rest = body_model(phenotype=params["phenotype"])
    colors = clothing_colors(body_model, rng, rest)
    lo, hi = verts.amin(0), verts.amax(0)
    extent_m = float(max(hi[0] - lo[0], hi[1] - lo[1]))
    lo_h, hi_h = HEIGHT_RANGE
    height_px = math.exp(rng.uniform(math.log(lo_h), math.log(hi_h)))
    cut = rng.uniform() < 0.2
    if not cut:
        height_px = min(height_px, 0.95 * h)
    depth = k.fy * extent_m / height_px
    # where the box centre goes: anywhere inside, or straddling a border (cut people)
    half = 0.5 * height_px
    if cut:
        side = int(rng.integers(4))
        # top / bottom: up to 65 % of the height outside; left / right: about half the width
        u = rng.uniform(0, w) if side < 2 else (rng.uniform(-0.1, 0.1) * height_px
                                                 + (0 if side == 2 else w))
        v = rng.uniform(0, h) if side >= 2 else (rng.uniform(-0.3, 0.3) * half
                                                  + (0 if side == 0 else h))
    else:
        u = rng.uniform(min(0.35 * half, w / 2), max(w - 0.35 * half, w / 2))
        v = rng.uniform(min(half, h / 2), max(h - half, h / 2))
    centre = 0.5 * (lo + hi)
    target = torch.tensor([(u - k.cx) / k.fx * depth, (v - k.cy) / k.fy * depth, depth])
    return (verts - centre + target).numpy(), colors, kind


def _full_silhouette_pixels(verts: np.ndarray, faces: np.ndarray, k: Any) -> tuple[int,
                                                                                     np.ndarray]:
    """Pixels of the person's silhouette alone on an unbounded canvas, and its box (xywh)."""
    from ehps.geometry.camera import Intrinsics
    from ehps.render import rasterize_sparse

    uv = verts[:, :2] / verts[:, 2:3] * np.array([k.fx, k.fy]) + np.array([k.cx, k.cy])
    lo = np.floor(uv.min(0)) - 1
    hi = np.ceil(uv.max(0)) + 1
    canvas = Intrinsics(k.fx, k.fy, k.cx - float(lo[0]), k.cy - float(lo[1]))
    size = (int(hi[1] - lo[1]), int(hi[0] - lo[0]))
    frags = rasterize_sparse(verts.astype(np.float32), faces, canvas, size)
    pix = frags.pix.numpy()
    if pix.size == 0:
        return 0, np.zeros(4, np.float32)
    rows, cols = pix // size[1], pix % size[1]
    box = np.array([cols.min() + lo[0], rows.min() + lo[1], cols.max() - cols.min() + 1,
                    rows.max() - rows.min() + 1], np.float32)
    return int(pix.size), box


def make_crowd_scene(body_model: Any, rng: np.random.Generator, index: int = 0,
                     data_dir: str | None = None, max_people: int = 12) -> CrowdScene:
    """Render one crowd scene (see the module docstring)."""
    from ehps.geometry.camera import Intrinsics
    from ehps.render import render_mesh_image

    hw = _SIZES[int(rng.integers(len(_SIZES)))]
    h, w = hw
    k = Intrinsics.from_image_size(w, h)
    backgrounds = crowd_backgrounds(data_dir)
    bg = backgrounds[int(rng.integers(len(backgrounds)))]
    image_bg, ignore_regions = _background(rng, bg, hw)
    n = int(rng.integers(1, max_people + 1))
    elevation = float(rng.uniform(0.0, 20.0))
    faces = body_model.faces.numpy()
    meshes = [_person_mesh(body_model, rng, k, hw, elevation) for _ in range(n)]
    rgb, _, _, ids = render_mesh_image([m[0] for m in meshes], faces, k, hw,
                                       background=image_bg, color=[m[1] for m in meshes],
                                       ssaa=2, return_ids=True)
    people = []
    for i, (verts, _, kind) in enumerate(meshes):
        total, amodal = _full_silhouette_pixels(verts, faces, k)
        rows, cols = np.nonzero(ids == i)
        visible = rows.size / max(total, 1)
        if rows.size:
            box = np.array([cols.min(), rows.min(), cols.max() - cols.min() + 1,
                            rows.max() - rows.min() + 1], np.float32)
        else:
            box = np.zeros(4, np.float32)
        people.append(CrowdPerson(box, amodal, float(max(amodal[2], amodal[3])),
                                  float(min(visible, 1.0)), kind, visible < MIN_VISIBLE))
    return CrowdScene(rgb, people, ignore_regions, bg.name, index)


def save_scene(path: str | Path, scene: CrowdScene) -> None:
    """Write a scene to an ``.npz`` (no pickles; atomically)."""
    from ehps.utils.io import atomic_save_npz

    people = scene.people
    atomic_save_npz(
        Path(path),
        compressed=True,
        image=scene.image,
        box_xywh=np.asarray([p.box_xywh for p in people], np.float32).reshape(-1, 4),
        amodal_xywh=np.asarray([p.amodal_xywh for p in people], np.float32).reshape(-1, 4),
        height_px=np.asarray([p.height_px for p in people], np.float32),
        visible_fraction=np.asarray([p.visible_fraction for p in people], np.float32),
        kind=np.asarray([p.kind for p in people], dtype="U16"),
        ignore=np.asarray([p.ignore for p in people], bool),
        ignore_regions=np.asarray(scene.ignore_regions, np.float32).reshape(-1, 4),
        background=np.asarray(scene.background),
        index=np.asarray(scene.index),
    )


def load_scene(path: str | Path) -> CrowdScene:
    """Read a scene written by :func:`save_scene` (shapes checked)."""
    with np.load(Path(path), allow_pickle=False) as z:
        image = z["image"]
        n = int(z["height_px"].shape[0])
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"{path}: image must be (H, W, 3) uint8, got {image.shape}")
        for key, shape in (("box_xywh", (n, 4)), ("amodal_xywh", (n, 4)),
                           ("visible_fraction", (n,)), ("kind", (n,)), ("ignore", (n,))):
            if z[key].shape != shape:
                raise ValueError(f"{path}: {key} has shape {z[key].shape}, expected {shape}")
        people = [CrowdPerson(z["box_xywh"][i], z["amodal_xywh"][i], float(z["height_px"][i]),
                              float(z["visible_fraction"][i]), str(z["kind"][i]),
                              bool(z["ignore"][i])) for i in range(n)]
        return CrowdScene(image, people, z["ignore_regions"].reshape(-1, 4),
                          str(z["background"]), int(z["index"]))


def crowd_scenes(body_model: Any, count: int, seed: int = 0, cache_dir: str | Path | None = None,
                 data_dir: str | None = None) -> list[CrowdScene]:
    """Scenes ``0 .. count-1`` of the set ``seed`` (scene ``i`` depends only on ``(seed, i)``),
    read from ``cache_dir`` when there and written there after rendering."""
    out = []
    for i in range(count):
        path = None if cache_dir is None else Path(cache_dir) / f"crowd_{seed}_{i:04d}.npz"
        if path is not None and path.is_file():
            out.append(load_scene(path))
            continue
        scene = make_crowd_scene(body_model, np.random.default_rng([seed, i]), i, data_dir)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_scene(path, scene)
        out.append(scene)
    return out
