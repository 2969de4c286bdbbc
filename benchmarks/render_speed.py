"""Time ehps's rasteriser back-ends side by side: pure torch vs moderngl (when installed).

Scenes use a real body topology when the embedded Anny model is available (13,718 vertices,
27,420 triangles, rest pose, cached build), else an ellipsoid of similar size (20,480
triangles). For each scene the two back-ends run alternately (torch first on even rounds,
moderngl first on odd ones) so that load from other processes hits both alike; the table gives
the median and minimum per call and the ratio ``torch / moderngl`` of the medians. The back-ends
are first checked to agree (silhouette IoU).

Cases: visibility only (``rasterize``), and the full overlay (``render_overlay``: shading, 2x2
supersampling, compositing) on a 640x480 photo and a 1280x720 frame. The first row reproduces
the setting measured in shared/design/environment.md section 4 (one body at 512x512).

Usage (wrap in the shared lock on a shared machine)::

    flock /tmp/ehps_bench.lock python benchmarks/render_speed.py [--rounds 15] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from ehps.geometry.camera import Intrinsics
from ehps.render import available_backends, rasterize, render_overlay


def _body_mesh() -> tuple[np.ndarray, np.ndarray, str]:
    """(V, 3) camera-frame body (upright, facing the camera, origin at the pelvis), faces, name."""
    try:
        import anny

        model = anny.Anny()
        with torch.no_grad():
            verts = model()["vertices"][0].double().numpy()
        faces = model.faces.numpy()
        # anny: z up, facing -y, left = +x  ->  OpenCV camera: x right, y down, z forward
        verts = verts @ np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]).T
        return verts.astype(np.float32), faces.astype(np.int64), "anny (13,718 v)"
    except Exception:  # anny missing or not buildable: fall back to a body-sized ellipsoid
        import trimesh

        sphere = trimesh.creation.icosphere(subdivisions=5)
        verts = np.asarray(sphere.vertices) * [0.25, 0.85, 0.15]
        return verts.astype(np.float32), np.asarray(sphere.faces), "ellipsoid (10,242 v)"


def _people(verts: np.ndarray, n: int) -> list[np.ndarray]:
    """n bodies spread across the view, 3-7 m away, turned by different angles."""
    out = []
    for i in range(n):
        a = np.radians(-40 + 80 * i / max(n - 1, 1))
        rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        x = -1.6 + 3.2 * i / max(n - 1, 1) if n > 1 else 0.0
        out.append((verts @ rot.T + [x, 0.2, 3.0 + 4.0 * (i % 3) / 2]).astype(np.float32))
    return out


def _time_pair(
    fns: dict[str, Callable[[], object]], rounds: int
) -> dict[str, list[float]]:
    names = list(fns)
    for fn in fns.values():  # warm-up (context creation, allocator)
        fn()
        fn()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def _case_fn(
    kind: str,
    backend: str,
    people: list[np.ndarray],
    faces: np.ndarray,
    k: Intrinsics,
    image_hw: tuple[int, int],
    photo: np.ndarray,
) -> Callable[[], object]:
    if kind == "raster":
        return lambda: rasterize(people, [faces] * len(people), k, image_hw, backend=backend)
    meshes = [(v, faces) for v in people]
    ssaa = 2 if kind == "overlay" else 1
    return lambda: render_overlay(photo, meshes, k, backend=backend, ssaa=ssaa)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    verts, faces, mesh_name = _body_mesh()
    backends = [b for b in ("torch", "moderngl") if b in available_backends()]
    print(f"mesh: {mesh_name}, {len(faces)} triangles; torch threads {args.threads}; "
          f"back-ends: {', '.join(backends)}")
    if "moderngl" not in backends:
        print("moderngl is not usable here (pip install moderngl); timing torch only")

    cases = [
        ("rasterize 1 body 512x512", 1, (512, 512), "raster"),
        ("rasterize 2 bodies 640x480", 2, (480, 640), "raster"),
        ("rasterize 4 bodies 1280x720", 4, (720, 1280), "raster"),
        ("overlay 2 bodies 640x480 ssaa2", 2, (480, 640), "overlay"),
        ("overlay 4 bodies 1280x720 ssaa2", 4, (720, 1280), "overlay"),
        ("overlay 4 bodies 1280x720 ssaa1", 4, (720, 1280), "overlay1"),
    ]
    header = f"{'case':34s} {'back-end':9s} {'median ms':>10s} {'min ms':>8s}"
    print(header + "   ratio torch/moderngl (median)")
    for label, n, (h, w), kind in cases:
        people = _people(verts, n)
        k = Intrinsics.from_image_size(w, h)
        photo = np.full((h, w, 3), 110, np.uint8)
        fns = {be: _case_fn(kind, be, people, faces, k, (h, w), photo) for be in backends}
        if kind == "raster" and len(backends) == 2:
            a, b = (fns[x]() for x in backends)
            iou = float((a.mask & b.mask).sum()) / max(1.0, float((a.mask | b.mask).sum()))
            label_iou = f" (mask IoU {iou:.4f})"
        else:
            label_iou = ""
        times = _time_pair(fns, args.rounds)
        med = {be: statistics.median(t) * 1000 for be, t in times.items()}
        for be in backends:
            line = f"{label:34s} {be:9s} {med[be]:10.1f} {min(times[be]) * 1000:8.1f}"
            if be == backends[-1] and len(backends) == 2:
                line += f"   {med['torch'] / med['moderngl']:.2f}x{label_iou}"
            print(line)


if __name__ == "__main__":
    main()
