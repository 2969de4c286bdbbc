"""Overlays, side views and synthetic renders: compositing rules checked against the rasteriser's
own coverage, the photo outside the meshes kept bit-exact, per-person cameras and colours, and a
smoke render on the bundled basketball photo (written to the test's tmp dir for inspection)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import trimesh

from ehps.errors import InputError
from ehps.geometry.camera import Intrinsics
from ehps.render import (
    PERSON_COLORS,
    draw_boxes,
    draw_keypoints,
    neutral_background,
    rasterize,
    render_mesh_image,
    render_overlay,
    render_turntable,
    render_view,
)
from ehps.utils.io import atomic_write_image


def toy_person(x: float, z: float, height: float = 1.7) -> tuple[np.ndarray, np.ndarray]:
    """A closed stick-figure body (head, torso, arms, legs) standing at (x, ., z), camera frame
    (y down), feet at y = +0.9 m, built from trimesh primitives."""
    s = height / 1.7
    parts = []

    def limb(p0, p1, r):
        seg = np.array([p0, p1], dtype=float) * s
        parts.append(trimesh.creation.cylinder(radius=r * s, segment=seg, sections=16))

    head = trimesh.creation.icosphere(subdivisions=3, radius=0.11 * s)
    head.apply_translation(np.array([0.0, -0.68, 0.0]) * s)
    parts.append(head)
    torso = trimesh.creation.capsule(height=0.45 * s, radius=0.16 * s, count=[16, 16])
    torso.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    torso.apply_translation(np.array([0.0, -0.25, 0.0]) * s)
    parts.append(torso)
    limb([-0.2, -0.45, 0.0], [-0.42, -0.05, 0.05], 0.045)
    limb([0.2, -0.45, 0.0], [0.4, -0.1, -0.12], 0.045)
    limb([-0.09, 0.05, 0.0], [-0.12, 0.9, 0.0], 0.07)
    limb([0.09, 0.05, 0.0], [0.14, 0.9, 0.03], 0.07)
    mesh = trimesh.util.concatenate(parts)
    verts = np.asarray(mesh.vertices, dtype=np.float32) + np.array([x, 0.0, z], np.float32)
    return verts, np.asarray(mesh.faces, dtype=np.int64)


@pytest.fixture(scope="module")
def photo(assets_dir):
    img = cv2.imread(str(assets_dir / "basketball1.png"), cv2.IMREAD_COLOR)
    assert img is not None
    return np.ascontiguousarray(img[:, :, ::-1])


@pytest.fixture(scope="module")
def scene():
    k = Intrinsics.from_image_size(640, 480)
    return [toy_person(-1.25, 4.2), toy_person(0.95, 3.3, 1.8)], k


def test_overlay_on_basketball(photo, scene, tmp_path):
    meshes, k = scene
    out = render_overlay(photo, meshes, k, backend="torch")
    assert out.shape == photo.shape and out.dtype == np.uint8
    frags = rasterize([m[0] for m in meshes], [m[1] for m in meshes], k, (480, 640))
    mask = frags.mask[0].numpy()
    # pixels far from any mesh keep the photo exactly; 2x2 supersampling reaches 1 px outside.
    near = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    np.testing.assert_array_equal(out[~near], photo[~near])
    # interior pixels are mostly mesh colour: far from the (grey) photo, tinted like the person
    interior = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    diff = np.abs(out.astype(int) - photo.astype(int)).sum(-1)
    assert np.median(diff[interior]) > 40
    for m, color in enumerate(PERSON_COLORS[:2]):
        sel = (frags.mesh_idx[0].numpy() == m) & interior
        mean = out[sel].astype(float).mean(0)
        expected_dominant = int(np.argmax(color))
        assert int(np.argmax(mean)) == expected_dominant
    # alpha = 0 shows only the photo; alpha = 1 hides it inside the meshes
    np.testing.assert_array_equal(render_overlay(photo, meshes, k, alpha=0.0), photo)
    opaque = render_overlay(photo, meshes, k, alpha=1.0, ssaa=1, backend="torch")
    grey = photo[:, :, 0]
    single = render_overlay(grey, meshes, k, alpha=1.0, ssaa=1, backend="torch")
    np.testing.assert_array_equal(opaque, single)
    with_side = render_overlay(photo, meshes, k, side_view=True, backend="torch")
    assert with_side.shape == (480, 1280, 3)
    np.testing.assert_array_equal(with_side[:, :640], out)
    atomic_write_image(tmp_path / "overlay_basketball.png", with_side)
    assert (tmp_path / "overlay_basketball.png").stat().st_size > 10_000


def test_side_view_and_turntable(scene):
    meshes, k = scene
    panel = render_view(meshes, k, (240, 320), yaw_deg=90.0, ssaa=1, backend="torch")
    bg = neutral_background((240, 320))
    covered = np.abs(panel.astype(int) - bg.astype(int)).sum(-1) > 0
    assert 0.02 < covered.mean() < 0.6
    # every mesh fits in the panel with the margin: the border rows/columns are background
    assert not covered[:, :5].any() and not covered[:, -5:].any()
    assert not covered[:5].any() and not covered[-5:].any()
    # in the side view the deeper person (index 0, z = 4.2) lies further right
    ys, xs = np.nonzero(covered)
    frames = render_turntable(meshes, k, (60, 80), num_frames=4, ssaa=1)
    assert len(frames) == 4 and all(f.shape == (60, 80, 3) for f in frames)
    # yaw 180 mirrors yaw 0 left-right about the panel centre (the scene is re-centred)
    m0 = (np.abs(frames[0].astype(int) - neutral_background((60, 80)).astype(int)).sum(-1) > 0)
    m2 = (np.abs(frames[2].astype(int) - neutral_background((60, 80)).astype(int)).sum(-1) > 0)
    c0 = np.nonzero(m0)[1].mean()
    c2 = np.nonzero(m2)[1].mean()
    assert abs((c0 - 39.5) + (c2 - 39.5)) < 2.0
    assert xs.size > 0


def test_side_view_orders_people_by_depth():
    k = Intrinsics(500.0, 500.0, 159.5, 119.5)
    near = toy_person(0.0, 3.0)
    far = toy_person(0.0, 6.0)
    panel_colors = [(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)]
    panel = render_view([near, far], k, (240, 320), colors=panel_colors, ssaa=1)
    red = (panel[..., 0].astype(int) - panel[..., 2]) > 60
    blue = (panel[..., 2].astype(int) - panel[..., 0]) > 60
    # +90 degrees: the original camera is off the left edge, deeper points appear to the right
    assert np.nonzero(red)[1].mean() < np.nonzero(blue)[1].mean()


def test_per_person_cameras(photo):
    # two people with their own (crop-like) cameras: each silhouette is where its camera puts it,
    # and the person who looks bigger is composited in front.
    big, small = toy_person(0.0, 4.0), toy_person(0.0, 4.0)
    k_big = Intrinsics(900.0, 900.0, 300.0, 250.0)
    k_small = Intrinsics(500.0, 500.0, 360.0, 220.0)
    out = render_overlay(
        photo, [small, big], [k_small, k_big], colors=[(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)],
        alpha=1.0, ssaa=1, backend="torch",
    )
    m_big = rasterize(big[0], big[1], k_big, (480, 640)).mask[0].numpy()
    m_small = rasterize(small[0], small[1], k_small, (480, 640)).mask[0].numpy()
    overlap = m_big & m_small
    assert overlap.sum() > 100
    assert (out[overlap][:, 2] > out[overlap][:, 0]).all()  # blue (bigger) in front
    only_small = m_small & ~m_big
    assert (out[only_small][:, 0] > out[only_small][:, 2]).all()
    outside = ~(m_big | m_small)
    np.testing.assert_array_equal(out[outside], photo[outside])


def test_render_mesh_image_exact_mask_and_depth():
    k = Intrinsics(300.0, 300.0, 79.5, 59.5)
    people = [toy_person(-0.3, 3.0), toy_person(0.4, 3.6)]
    bg = np.full((120, 160, 3), 17, np.uint8)
    rgb, mask, depth, ids = render_mesh_image(
        [p[0] for p in people], [p[1] for p in people], k, (120, 160), background=bg,
        color=[(0.9, 0.2, 0.2), (0.2, 0.9, 0.2)], return_ids=True,
    )
    frags = rasterize([p[0] for p in people], [p[1] for p in people], k, (120, 160))
    np.testing.assert_array_equal(mask, frags.mask[0].numpy())
    np.testing.assert_array_equal(ids, frags.mesh_idx[0].numpy())
    np.testing.assert_allclose(depth[mask], frags.depth[0].numpy()[mask], rtol=1e-6)
    assert depth.dtype == np.float32 and (depth[~mask] == 0).all()
    assert (depth[mask] > 2.5).all() and (depth[mask] < 4.0).all()
    np.testing.assert_array_equal(rgb[~mask], bg[~mask])
    assert (rgb[ids == 0][:, 0] > rgb[ids == 0][:, 1]).mean() > 0.95
    assert (rgb[ids == 1][:, 1] > rgb[ids == 1][:, 0]).mean() > 0.95
    # single mesh, per-vertex colours, colour background, supersampled RGB keeps the exact mask
    verts, faces = people[0]
    vc = np.tile(np.array([[0, 0, 255]], np.uint8), (len(verts), 1))
    rgb2, mask2, _ = render_mesh_image(
        verts, faces, k.matrix(), (120, 160), background=(255, 255, 255), color=vc, ssaa=2
    )
    np.testing.assert_array_equal(mask2, rasterize(verts, faces, k, (120, 160)).mask[0].numpy())
    assert (rgb2[mask2][:, 2] >= rgb2[mask2][:, 0]).all()
    far = ~cv2.dilate(mask2.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert (rgb2[far] == 255).all()


def test_overlay_input_errors(photo, scene):
    meshes, k = scene
    with pytest.raises(InputError, match="alpha"):
        render_overlay(photo, meshes, k, alpha=1.5)
    with pytest.raises(InputError, match="colours"):
        render_overlay(photo, meshes, k, colors=[(1, 0, 0)])
    with pytest.raises(InputError, match="cameras"):
        render_overlay(photo, meshes, [k, k, k])
    with pytest.raises(InputError, match="image"):
        render_overlay(np.zeros((4, 4, 2), np.uint8), meshes, k)
    # no meshes, or meshes behind the camera: the photo comes back unchanged
    np.testing.assert_array_equal(render_overlay(photo, [], k), photo)
    behind = [(m[0] * np.float32([1, 1, -1]), m[1]) for m in meshes]
    np.testing.assert_array_equal(render_overlay(photo, behind, k, backend="torch"), photo)


def test_draw_helpers(photo):
    before = photo.copy()
    boxed = draw_boxes(photo, [[100, 50, 120, 300]], labels=["person 0"])
    assert not np.array_equal(boxed, photo)
    changed = np.abs(boxed.astype(int) - photo.astype(int)).sum(-1) > 0
    assert changed[50:350, 98:103].mean() > 0.9  # left edge drawn
    assert not changed[150:300, 130:190].any()  # inside untouched
    pts = np.array([[50.0, 60.0], [200.0, 220.0], [400.0, 100.0]])
    kp = draw_keypoints(photo, pts, confidence=[0.9, 0.9, 0.1], edges=[(0, 1), (1, 2)])
    diff = np.abs(kp.astype(int) - photo.astype(int)).sum(-1) > 0
    assert diff[60, 50] and diff[220, 200] and not diff[100, 400]
    assert diff[140, 125]  # on the drawn edge 0-1
    np.testing.assert_array_equal(photo, before)  # inputs are not drawn on in place
    with pytest.raises(InputError):
        draw_keypoints(photo, pts, confidence=[0.5])


def _frame(people, intrinsics, track_ids):
    from ehps.structures import FrameResult, PersonEstimate

    persons = []
    for (verts, _), k, tid in zip(people, intrinsics, track_ids):
        transl = verts.mean(0).astype(np.float32)
        persons.append(
            PersonEstimate(
                bbox_xywh=np.array([10.0, 20.0, 100.0, 200.0]), score=0.9, body_model="smplx",
                params={"transl": transl}, vertices_cam=verts, joints_cam=verts[:3],
                joints_img=np.zeros((3, 2), np.float32), intrinsics=k,
                transl_full=transl + np.float32(0.5), track_id=tid,
            )
        )
    return FrameResult("x.png", 0, (480, 640), Intrinsics.from_image_size(640, 480), persons,
                       faces=people[0][1])


def test_render_frame(photo):
    from ehps.render import color_for_index, render_frame

    body = toy_person(0.0, 4.0)
    people = [(body[0] + np.float32([-0.8, 0, 0]), body[1]), (body[0] + np.float32([0.8, 0, 0]),
                                                              body[1])]
    ks = [Intrinsics(600.0, 600.0, 320.0, 240.0), Intrinsics(650.0, 640.0, 330.0, 250.0)]
    frame = _frame(people, ks, [3, None])
    own = render_frame(photo, frame, shared_camera=False, backend="torch", ssaa=1)
    ref = render_overlay(photo, people, ks, colors=[color_for_index(3), color_for_index(1)],
                         backend="torch", ssaa=1)
    np.testing.assert_array_equal(own, ref)
    shared = render_frame(photo, frame, backend="torch", ssaa=1)  # transl_full set -> shared
    full = [(p.vertices_full(), body[1]) for p in frame.people]
    np.testing.assert_array_equal(
        shared, render_overlay(photo, full, frame.intrinsics,
                               colors=[color_for_index(3), color_for_index(1)], backend="torch",
                               ssaa=1)
    )
    boxed = render_frame(photo, frame, boxes=True, side_view=True, backend="torch", ssaa=1)
    assert boxed.shape == (480, 1280, 3)
    assert not np.array_equal(boxed[:, :640], shared)
    empty = _frame(people, ks, [None, None])
    empty.people = []
    np.testing.assert_array_equal(render_frame(photo, empty), photo)
