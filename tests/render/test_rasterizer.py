"""The torch rasteriser against independent references: analytic coverage and depth (a triangle
on a tilted plane, an axis-aligned box by ray casting), a per-pixel per-face loop, exact
interpolation of camera-space-linear attributes, and depth ordering between meshes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import trimesh

from ehps.errors import InputError
from ehps.geometry.camera import Intrinsics
from ehps.render import interpolate, rasterize, rasterize_sparse
from ehps.render.shading import vertex_normals

K_SMALL = np.array([[60.0, 0.0, 15.5], [0.0, 60.0, 11.5], [0.0, 0.0, 1.0]])


def _rays(k: np.ndarray, h: int, w: int) -> np.ndarray:
    """(H, W, 3) camera-frame ray directions with z = 1 through every pixel centre."""
    jj, ii = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    return np.stack(((jj - k[0, 2]) / k[0, 0], (ii - k[1, 2]) / k[1, 1], np.ones_like(jj)), -1)


def _box_mesh(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    box = trimesh.creation.box(bounds=np.stack([lo, hi]))
    return np.asarray(box.vertices), np.asarray(box.faces)


def test_triangle_on_tilted_plane_matches_analytic_depth_and_coverage():
    # a 3D triangle on the plane z = 3 + 0.4 x - 0.3 y; depth by ray-plane intersection.
    k = np.array([[200.0, 0.0, 40.0], [0.0, 180.0, 30.0], [0.0, 0.0, 1.0]])
    xy = np.array([[-0.5, -0.4], [0.6, -0.3], [0.1, 0.55]])
    z = 3.0 + 0.4 * xy[:, 0] - 0.3 * xy[:, 1]
    verts = np.concatenate([xy, z[:, None]], axis=1)
    frags = rasterize(torch.tensor(verts), torch.tensor([[0, 1, 2]]), k, (60, 80))
    rays = _rays(k, 60, 80)
    t = 3.0 / (1.0 - 0.4 * rays[..., 0] + 0.3 * rays[..., 1])  # z of the plane along each ray
    hit = rays * t[..., None]
    # inside test in the plane (2D point-in-triangle on x, y of the hit point).
    a, b, c = xy
    def side(p, q, r):
        return (q[0] - p[0]) * (r[..., 1] - p[1]) - (q[1] - p[1]) * (r[..., 0] - p[0])
    s = np.stack([side(a, b, hit), side(b, c, hit), side(c, a, hit)])
    inside = (s > 0).all(0) | (s < 0).all(0)
    margin = np.abs(s).min(0) > 1e-9
    mask = frags.mask[0].numpy()
    assert inside.sum() > 300
    np.testing.assert_array_equal(mask[margin], inside[margin])
    np.testing.assert_allclose(frags.depth[0].numpy()[inside], t[inside], rtol=1e-12)
    assert np.isinf(frags.depth[0].numpy()[~mask]).all()
    assert (frags.face_idx[0].numpy()[~mask] == -1).all()


def test_box_matches_ray_casting():
    # an axis-aligned box off the optical axis: the front face and one side face are visible.
    lo, hi = np.array([0.2, -0.4, 3.0]), np.array([1.0, 0.3, 3.8])
    verts, faces = _box_mesh(lo, hi)
    k = np.array([[120.0, 0.0, 31.5], [0.0, 120.0, 23.5], [0.0, 0.0, 1.0]])
    frags = rasterize(verts, faces, Intrinsics(120.0, 120.0, 31.5, 23.5), (48, 64))
    rays = _rays(k, 48, 64)
    with np.errstate(divide="ignore"):
        t0, t1 = (lo - 0.0) / rays, (hi - 0.0) / rays
    t_near = np.minimum(t0, t1).max(-1)
    t_far = np.maximum(t0, t1).min(-1)
    hit = t_near < t_far
    clear = np.abs(t_far - t_near) > 1e-6  # not grazing an edge
    # also drop rays that pass within a hair of an edge (two slab entries nearly equal)
    tn = np.sort(np.minimum(t0, t1), axis=-1)
    clear &= (tn[..., 2] - tn[..., 1]) > 1e-6
    mask = frags.mask[0].numpy()
    assert hit.sum() > 200 and (hit & clear).sum() > 0.9 * hit.sum()
    np.testing.assert_array_equal(mask[clear], hit[clear])
    # ray parameter t with z-component 1 equals the depth
    np.testing.assert_allclose(frags.depth[0].numpy()[hit & clear], t_near[hit & clear], rtol=1e-10)


def _loop_reference(verts: np.ndarray, faces: np.ndarray, k: np.ndarray, h: int, w: int):
    """Per-pixel, per-face: ray-plane depth and 3D inside test; nearest face wins."""
    rays = _rays(k, h, w)
    best = np.full((h, w), np.inf)
    second = np.full((h, w), np.inf)
    face = np.full((h, w), -1)
    min_margin = np.full((h, w), np.inf)
    for fi, (ia, ib, ic) in enumerate(faces):
        a, b, c = verts[ia], verts[ib], verts[ic]
        n = np.cross(b - a, c - a)
        for i in range(h):
            for j in range(w):
                d = rays[i, j]
                denom = n @ d
                if abs(denom) < 1e-12:
                    continue
                t = (n @ a) / denom
                p = d * t
                # barycentric signs via triple products (in 3D, independent of the projection)
                s = [np.dot(np.cross(b - a, p - a), n), np.dot(np.cross(c - b, p - b), n),
                     np.dot(np.cross(a - c, p - c), n)]
                s = np.array(s) / (n @ n)
                min_margin[i, j] = min(min_margin[i, j], np.abs(s).min())
                if t <= 0 or (s < 0).any():
                    continue
                if t < best[i, j]:
                    second[i, j] = best[i, j]
                    best[i, j], face[i, j] = t, fi
                elif t < second[i, j]:
                    second[i, j] = t
    return face, best, second, min_margin


def test_matches_loop_reference_on_random_scene():
    rng = np.random.default_rng(3)
    n_tri = 14
    centres = rng.uniform([-0.6, -0.4, 2.5], [0.6, 0.4, 4.0], size=(n_tri, 1, 3))
    verts = (centres + rng.normal(scale=0.25, size=(n_tri, 3, 3))).reshape(-1, 3)
    faces = np.arange(n_tri * 3).reshape(-1, 3)
    h, w = 24, 32
    frags = rasterize(torch.tensor(verts), torch.tensor(faces), K_SMALL, (h, w))
    face_ref, depth_ref, second, margin = _loop_reference(verts, faces, K_SMALL, h, w)
    with np.errstate(invalid="ignore"):
        gap = np.where(np.isinf(second), np.inf, second - depth_ref)
    clear = (margin > 1e-7) & (gap > 1e-7)
    ours = frags.face_idx[0].numpy()
    assert (face_ref >= 0).sum() > 100 and clear.mean() > 0.95
    np.testing.assert_array_equal(ours[clear], face_ref[clear])
    hit = clear & (face_ref >= 0)
    np.testing.assert_allclose(frags.depth[0].numpy()[hit], depth_ref[hit], rtol=1e-9)


def test_interpolation_reproduces_camera_linear_attributes():
    # attribute = A p + b is linear in camera space; perspective-correct interpolation recovers it
    # exactly at the surface point p = depth * ray.
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=0.5)
    verts = np.asarray(mesh.vertices) * [1.0, 1.4, 0.8] + [0.1, -0.05, 2.2]
    a_mat = np.array([[0.3, -1.2, 0.5], [2.0, 0.1, -0.7]])
    attrs = verts @ a_mat.T + [0.25, -1.0]
    frags = rasterize(torch.tensor(verts), torch.tensor(mesh.faces), K_SMALL, (24, 32))
    got = interpolate(frags, torch.tensor(attrs))[0].numpy()
    mask = frags.mask[0].numpy()
    p = _rays(K_SMALL, 24, 32)[mask] * frags.depth[0].numpy()[mask][:, None]
    expect = p @ a_mat.T + [0.25, -1.0]
    assert mask.sum() > 150
    np.testing.assert_allclose(got[mask], expect, atol=1e-9)
    assert (got[~mask] == 0).all()
    bary = frags.bary[0].numpy()[mask]
    np.testing.assert_allclose(bary.sum(-1), 1.0, atol=1e-12)
    assert (bary >= -1e-12).all()
    # the sparse variant returns the same values at the covered pixels
    sparse = rasterize_sparse(torch.tensor(verts), torch.tensor(mesh.faces), K_SMALL, (24, 32))
    assert torch.equal(sparse.pix, torch.nonzero(frags.mask.view(-1)).squeeze(1))
    vals = interpolate(sparse, torch.tensor(attrs))
    np.testing.assert_allclose(vals.numpy(), got.reshape(-1, 2)[sparse.pix.numpy()], atol=1e-12)


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_two_meshes_z_test(order):
    near_box = _box_mesh(np.array([-0.5, -0.5, 3.0]), np.array([0.1, 0.5, 3.5]))
    # a finer, different-size mesh behind it, overlapping in the image
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.45)
    far = (np.asarray(sphere.vertices) + [0.35, 0.0, 4.5], np.asarray(sphere.faces))
    meshes = [near_box, far]
    vs = [torch.tensor(meshes[i][0]) for i in order]
    fs = [torch.tensor(meshes[i][1]) for i in order]
    frags = rasterize(vs, fs, K_SMALL, (24, 32))
    near_id = order.index(0)
    alone = [rasterize(vs[m], fs[m], K_SMALL, (24, 32)) for m in range(2)]
    both = alone[0].mask[0] & alone[1].mask[0]
    assert both.sum() > 10 and (alone[1 - near_id].mask[0] & ~both).sum() > 10
    mesh_idx = frags.mesh_idx[0]
    assert (mesh_idx[both] == near_id).all()
    assert (mesh_idx[alone[1 - near_id].mask[0] & ~both] == 1 - near_id).all()
    torch.testing.assert_close(frags.depth[0], torch.minimum(alone[0].depth[0], alone[1].depth[0]))
    # local face indices refer to each mesh's own faces
    local = frags.local_face_idx[0]
    for m in range(2):
        sel = mesh_idx == m
        torch.testing.assert_close(local[sel], alone[m].face_idx[0][sel])


def test_batch_per_mesh_cameras_and_culling():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.4)
    v = torch.tensor(sphere.vertices) + torch.tensor([0.0, 0.0, 3.0])
    f = torch.tensor(sphere.faces)
    batch = torch.stack([v, v + torch.tensor([0.3, -0.1, 0.5])])
    frags = rasterize(batch, f, K_SMALL, (24, 32))
    for b in range(2):
        single = rasterize(batch[b], f, K_SMALL, (24, 32))
        torch.testing.assert_close(frags.face_idx[b], single.face_idx[0])
        torch.testing.assert_close(frags.depth[b], single.depth[0])
    # per-mesh cameras: each mesh is seen by its own camera, z-tested by its own depth
    v_far = v + torch.tensor([0.0, 0.0, 5.0])
    k_far = Intrinsics(150.0, 150.0, 22.0, 11.5)
    two = rasterize([v, v_far], [f, f], [K_SMALL, k_far], (24, 32))
    ref0 = rasterize(v, f, K_SMALL, (24, 32))
    ref1 = rasterize(v_far, f, k_far, (24, 32))
    assert (ref0.mask & ref1.mask).sum() > 10 and (ref1.mask & ~ref0.mask).sum() > 10
    assert torch.equal(two.mesh_idx[0] == 0, ref0.mask[0])
    assert torch.equal(two.mesh_idx[0] == 1, ref1.mask[0] & ~ref0.mask[0])
    # back-face culling on a closed convex mesh leaves the image unchanged (up to edge ties)
    culled = rasterize(v, f, K_SMALL, (24, 32), cull_backfaces=True)
    assert (culled.mask[0] != ref0.mask[0]).sum() <= 2
    torch.testing.assert_close(culled.depth[0][culled.mask[0] & ref0.mask[0]],
                               ref0.depth[0][culled.mask[0] & ref0.mask[0]])
    # culling drops the far half of the faces: the visible faces all face the camera
    n = vertex_normals(v, f)
    centre_normals = n[f].mean(1)
    vis = culled.face_idx[0][culled.mask[0]].unique()
    assert (centre_normals[vis, 2] < 0.2).all()


@pytest.mark.parametrize("subdivisions", [1, 5])
def test_closed_mesh_has_no_pinholes(subdivisions):
    # subdivisions=1 has big triangles (row-span path), 5 small ones (box-grid path)
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions, radius=0.5)
    centre = np.array([0.02, -0.01, 2.0])
    v = torch.tensor(sphere.vertices, dtype=torch.float32) + torch.tensor(centre)
    k = Intrinsics(400.0, 400.0, 99.5, 99.5)
    frags = rasterize(v, torch.tensor(sphere.faces), k, (200, 200))
    mask = frags.mask[0].numpy()
    inradius = float(np.min(np.abs(np.einsum("ij,ij->i", sphere.face_normals,
                                             sphere.triangles_center))))
    rays = _rays(k.matrix(), 200, 200)
    d = rays / np.linalg.norm(rays, axis=-1, keepdims=True)
    dist = np.linalg.norm(np.cross(d, centre), axis=-1)  # ray-to-centre distance
    assert mask[dist < inradius - 1e-3].all()
    assert not mask[dist > 0.5 + 1e-3].any()
    assert mask.sum() > 0.6 * np.pi * (400 * 0.5 / 2.0) ** 2


def test_points_behind_camera_and_bad_input():
    v = torch.tensor([[-0.5, -0.5, 2.0], [0.5, -0.5, 2.0], [0.0, 0.5, -1.0]])
    frags = rasterize(v, torch.tensor([[0, 1, 2]]), K_SMALL, (24, 32))
    assert not frags.mask.any()
    with pytest.raises(InputError, match="face indices"):
        rasterize(v, torch.tensor([[0, 1, 3]]), K_SMALL, (24, 32))
    with pytest.raises(InputError, match="3 cameras for 2 meshes"):
        rasterize([v, v], [torch.tensor([[0, 1, 2]])] * 2, [K_SMALL] * 3, (24, 32))
    with pytest.raises(InputError, match="camera matrix"):
        rasterize(v, torch.tensor([[0, 1, 2]]), np.eye(4), (24, 32))
    assert math.isinf(float(frags.depth.max()))
    # nested lists work as a single faces table and a single K
    lists = rasterize(v.tolist(), [[0, 1, 2]], K_SMALL.tolist(), (24, 32))
    ok = torch.tensor([[-0.5, -0.5, 2.0], [0.5, -0.5, 2.0], [0.0, 0.5, 2.0]])
    torch.testing.assert_close(
        rasterize(ok.tolist(), [[0, 1, 2]], K_SMALL.tolist(), (24, 32)).depth,
        rasterize(ok.double(), torch.tensor([[0, 1, 2]]), K_SMALL, (24, 32)).depth,
    )
    assert not lists.mask.any()
