"""Back-end selection, and the optional moderngl back-end against the torch rasteriser.

``./setup.sh --dev`` installs the ``render`` extra (moderngl), so the comparison runs in CI; it is
skipped only where moderngl is not installed at all. Installed but unusable (no OpenGL context,
e.g. no libEGL) is a failure with the reason: ``auto`` would silently fall back to the torch
rasteriser there."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from ehps.errors import InputError, MissingDependencyError
from ehps.geometry.camera import Intrinsics
from ehps.render import available_backends, rasterize, render_overlay, resolve_backend
from ehps.render.backends import _moderngl_usable


def _scene() -> tuple[list[torch.Tensor], list[torch.Tensor], Intrinsics]:
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=1.0)
    base = torch.tensor(sphere.vertices, dtype=torch.float32) * torch.tensor([0.25, 0.85, 0.15])
    f = torch.tensor(sphere.faces)
    box = trimesh.creation.box(extents=[0.6, 0.3, 0.3])  # large triangles (row-span path)
    verts = [base + torch.tensor([-0.35, 0.0, 4.0]), base + torch.tensor([0.1, 0.1, 5.0]),
             torch.tensor(box.vertices, dtype=torch.float32) + torch.tensor([0.5, -0.3, 3.5])]
    return verts, [f, f, torch.tensor(box.faces)], Intrinsics(700.0, 700.0, 159.5, 119.5)


def test_backend_selection():
    backends = available_backends()
    assert backends[-1] == "torch"
    assert resolve_backend("torch") == "torch"
    assert resolve_backend("auto") == backends[0]
    with pytest.raises(InputError, match="unknown render back-end"):
        resolve_backend("vulkan")
    if not _moderngl_usable():
        with pytest.raises(MissingDependencyError, match="pip install moderngl"):
            resolve_backend("moderngl")


def test_moderngl_matches_torch():
    pytest.importorskip("moderngl", reason="the render extra (moderngl) is not installed")
    assert _moderngl_usable(), ("moderngl is installed but no OpenGL context can be created "
                                "(Linux needs libEGL, e.g. apt install libegl1)")
    assert resolve_backend("auto") == "moderngl"
    verts, faces, k = _scene()
    for cull in (False, True):
        ref = rasterize(verts, faces, k, (240, 320), cull_backfaces=cull, backend="torch")
        gl = rasterize(verts, faces, k, (240, 320), cull_backfaces=cull, backend="moderngl")
        inter = (ref.mask & gl.mask).sum().item()
        union = (ref.mask | gl.mask).sum().item()
        assert union > 5000 and inter / union > 0.98
        # where both see the same face, depth and barycentrics agree (same float64 resolve)
        same = ref.face_idx == gl.face_idx
        assert same[ref.mask].float().mean() > 0.98
        common = ref.mask & gl.mask
        assert (ref.mesh_idx[common] == gl.mesh_idx[common]).float().mean() > 0.99
        both = same & ref.mask
        torch.testing.assert_close(gl.depth[both], ref.depth[both])
        torch.testing.assert_close(gl.bary[both], ref.bary[both])
    # batches render item by item
    batch = torch.stack([verts[0], verts[0] + torch.tensor([0.2, 0.0, 0.5])])
    ref = rasterize(batch, faces[0], k, (240, 320), backend="torch")
    gl = rasterize(batch, faces[0], k, (240, 320), backend="moderngl")
    for b in range(2):
        inter = (ref.mask[b] & gl.mask[b]).sum().item()
        assert inter / (ref.mask[b] | gl.mask[b]).sum().item() > 0.98
    # overlays look the same up to edge pixels
    photo = np.full((240, 320, 3), 90, np.uint8)
    meshes = [(v.numpy(), f.numpy()) for v, f in zip(verts, faces)]
    a = render_overlay(photo, meshes, k, backend="torch").astype(int)
    b = render_overlay(photo, meshes, k, backend="moderngl").astype(int)
    assert (np.abs(a - b).max(-1) > 8).mean() < 0.01
