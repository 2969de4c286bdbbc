import math

import numpy as np
import torch

from ehps.geometry import camera, crop


def test_depth_scale_constant():
    assert abs(camera.DEPTH_SCALE - 56.38) < 0.01


def test_process_bbox_aspect_and_ratio():
    box = crop.process_bbox(np.array([100.0, 50.0, 60.0, 200.0]), 640, 480, ratio=1.2)
    assert box is not None
    assert math.isclose(box[2] / box[3], 0.75, rel_tol=1e-6)
    # tall box: height kept (x ratio), width grown; centre preserved
    h_clipped = 199.0
    assert math.isclose(box[3], h_clipped * 1.2, rel_tol=1e-6)
    assert math.isclose(box[0] + box[2] / 2, 100 + 59 / 2, rel_tol=1e-6)
    assert crop.process_bbox(np.array([700.0, 10.0, 50.0, 50.0]), 640, 480) is None


def test_crop_maps_box_onto_patch_and_back():
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 255, size=(300, 400, 3)).astype(np.float32)
    box = np.array([120.0, 40.0, 150.0, 200.0], np.float32)
    res = crop.crop_person(img, box, out_hw=(512, 384))
    assert res.image.shape == (512, 384, 3)
    corners = np.array([[120.0, 40.0], [270.0, 240.0], [195.0, 140.0]])
    mapped = crop.apply_affine(corners, res.img2crop)
    np.testing.assert_allclose(mapped, [[0, 0], [384, 512], [192, 256]], atol=1e-3)
    np.testing.assert_allclose(crop.apply_affine(mapped, res.crop2img), corners, atol=1e-3)


def test_rotated_flipped_crop_is_consistent():
    box = np.array([10.0, 20.0, 90.0, 120.0], np.float32)
    fwd = crop.crop_transform((55.0, 80.0), (90.0, 120.0), (512, 384), scale=1.3, rot_deg=25.0)
    inv = crop.crop_transform((55.0, 80.0), (90.0, 120.0), (512, 384), 1.3, 25.0, inverse=True)
    pts = np.random.default_rng(1).uniform(0, 100, size=(10, 2))
    np.testing.assert_allclose(crop.apply_affine(crop.apply_affine(pts, fwd), inv), pts, atol=1e-3)
    img = np.zeros((200, 150, 3), np.float32)
    img[:, :10] = 1.0  # left stripe
    res = crop.crop_person(img, box, flip=True)
    assert res.flipped and res.image.shape == (512, 384, 3)


def test_crop_intrinsics_to_image_projection_consistency():
    # a point projected with the crop camera, mapped to the image by the box, equals the point
    # projected with the derived image intrinsics
    box = np.array([30.0, 60.0, 150.0, 200.0])
    k = camera.crop_intrinsics_to_image(box)
    p = torch.tensor([[[0.1, -0.2, 8.0]]], dtype=torch.float64)
    uv_crop = camera.project_points(p, eps=0.0)[0, 0].numpy()  # 192x256 body-input pixels
    uv_img = uv_crop * [box[2] / 192, box[3] / 256] + box[:2]
    uv_k = camera.project_points(p, k.focal, k.princpt, eps=0.0)[0, 0].numpy()
    np.testing.assert_allclose(uv_img, uv_k, rtol=1e-9)


def test_cam_params_to_trans():
    t = camera.cam_params_to_trans(torch.tensor([[0.1, -0.2, 0.0]]))
    np.testing.assert_allclose(t.numpy(), [[0.1, -0.2, camera.DEPTH_SCALE / 2]], rtol=1e-6)
