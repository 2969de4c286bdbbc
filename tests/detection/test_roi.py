"""Rotated crops and rect algebra against mediapipe's own formulations and analytic values."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from ehps.detection.landmarks import _refine_from_heatmap, hand_roi_from_pose
from ehps.detection.roi import (
    ImagePyramid,
    Roi,
    crop_roi,
    letterbox_to_roi,
    roi_from_alignment,
    roi_from_points,
    roi_to_image,
    transform_roi,
)
from ehps.detection.search import search_windows, tile_grid


def _transform_normalized(rect, w_img, h_img, sx, sy, shx, shy, square_long):
    """RectTransformationCalculator::TransformNormalizedRect, in normalised coordinates."""
    xc, yc, w, h, r = rect
    x_shift = (w_img * w * shx * math.cos(r) - h_img * h * shy * math.sin(r)) / w_img
    y_shift = (w_img * w * shx * math.sin(r) + h_img * h * shy * math.cos(r)) / h_img
    xc, yc = xc + x_shift, yc + y_shift
    if square_long:
        long_side = max(w * w_img, h * h_img)
        w, h = long_side / w_img, long_side / h_img
    return xc, yc, w * sx, h * sy, r


@pytest.mark.parametrize("rotation", [0.0, 0.4, -2.0])
def test_transform_roi_equals_normalized_formula(rotation):
    W, H = 640, 480
    roi = Roi(300.0, 200.0, 80.0, 50.0, rotation)
    ours = transform_roi(roi, 2.7, 2.7, shift_x=0.05, shift_y=-0.1, square_long=True)
    ref = _transform_normalized((300 / W, 200 / H, 80 / W, 50 / H, rotation), W, H, 2.7, 2.7,
                                0.05, -0.1, True)
    np.testing.assert_allclose(
        [ours.cx / W, ours.cy / H, ours.w / W, ours.h / H, ours.rotation], ref, atol=1e-9
    )


def test_alignment_rect_analytic():
    up = roi_from_alignment(np.array([100.0, 100.0]), np.array([100.0, 90.0]), math.pi / 2)
    assert up == Roi(100.0, 100.0, 20.0, 20.0, 0.0)
    right = roi_from_alignment(np.array([0.0, 0.0]), np.array([10.0, 0.0]), math.pi / 2)
    assert math.isclose(right.rotation, math.pi / 2)  # person lying, head to the right
    # the rotated crop's "up" (-y in the crop) must point from centre to the scale point
    corners = right.corners()
    top_mid = (corners[0] + corners[1]) / 2
    np.testing.assert_allclose(top_mid, [10.0, 0.0], atol=1e-5)


def test_rect_from_points_and_hand_roi():
    rect = roi_from_points(np.array([[0.0, 0.0], [10.0, 0.0], [4.0, 6.0]]), 0, 1, 0.0)
    assert (rect.cx, rect.cy, rect.w, rect.h) == (5.0, 3.0, 10.0, 6.0)
    assert abs(rect.rotation) < 1e-12
    # fingers straight up from the wrist: unrotated, centred on (2 index + pinky) / 3, shifted
    wrist, pinky, index = np.array([50.0, 100.0]), np.array([44.0, 70.0]), np.array([56.0, 70.0])
    roi = hand_roi_from_pose(wrist, pinky, index)
    middle = (2 * index + pinky) / 3
    side = 2 * np.hypot(*(middle - wrist))
    rot = math.atan2(2.0, 30.0)  # the middle point is 2 px right of and 30 px above the wrist
    assert abs(roi.rotation - rot) < 1e-12
    assert math.isclose(roi.w, 2.7 * side) and math.isclose(roi.h, 2.7 * side)
    # shifted by 0.1 x side towards the fingers (along the rotated up-axis)
    assert math.isclose(roi.cx, middle[0] + 0.1 * side * math.sin(rot))
    assert math.isclose(roi.cy, middle[1] - 0.1 * side * math.cos(rot))


def _crop_like_mediapipe(image, roi, out, border):
    """ImageToTensorOpenCvConverter: boxPoints -> getPerspectiveTransform -> warpPerspective."""
    src = cv2.boxPoints(((roi.cx, roi.cy), (roi.w, roi.h), roi.rotation * 180 / math.pi))
    dst = np.array([[0, out], [0, 0], [out, 0], [out, out]], np.float32)
    mat = cv2.getPerspectiveTransform(src.astype(np.float32), dst)
    return cv2.warpPerspective(image, mat, (out, out), flags=cv2.INTER_LINEAR, borderMode=border)


@pytest.mark.parametrize("rotation", [0.0, 0.3, -1.2, 3.0])
def test_crop_matches_mediapipe_warp(rotation):
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), (7, 7), 2)
    roi = Roi(150.0, 110.0, 130.0, 130.0, rotation)
    tensor, padded, pad = crop_roi(image, roi, (64, 64), (0.0, 1.0))
    assert padded == roi and not pad.any()
    ref = _crop_like_mediapipe(image, roi, 64, cv2.BORDER_REPLICATE).astype(np.float32) / 255
    assert np.abs(tensor - ref).mean() < 2e-3
    assert np.abs(tensor - ref).max() < 0.05


def test_letterbox_padding_and_projection_round_trip():
    image = np.zeros((200, 300, 3), np.uint8)
    dot = (231.0, 57.0)
    cv2.circle(image, (int(dot[0]), int(dot[1])), 2, (255, 255, 255), -1)
    roi = Roi(180.0, 90.0, 200.0, 100.0, 0.5)  # wide: padded top and bottom
    tensor, padded, pad = crop_roi(image, roi, (128, 128), (0.0, 1.0), border_zero=True)
    assert pad[1] == pad[3] > 0 and pad[0] == pad[2] == 0
    assert math.isclose(padded.h, padded.w) and math.isclose(padded.w, roi.w)
    ys, xs = np.nonzero(tensor[:, :, 0] > 0.5)
    found = np.array([[xs.mean() / 128, ys.mean() / 128]])
    back = roi_to_image(letterbox_to_roi(found, pad), roi)[0]
    assert np.hypot(*(back - dot)) < 1.5


def test_pyramid_reads_the_original_for_mild_ratios_and_a_smoothed_level_otherwise():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (2000, 2400, 3), dtype=np.uint8)
    pyr = ImagePyramid(image)
    mild = Roi(500.0, 400.0, 600.0, 600.0, 0.2)  # ratio 600/128 < 8: identical to crop_roi
    np.testing.assert_array_equal(pyr.crop(mild, (128, 128))[0],
                                  crop_roi(image, mild, (128, 128))[0])
    full = Roi(1200.0, 1000.0, 2400.0, 2000.0)  # ratio ~19: an area-averaged level
    tensor = pyr.crop(full, (100, 120), keep_aspect_ratio=False)[0]
    area = cv2.resize(image, (120, 100), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    naive = crop_roi(image, full, (100, 120), keep_aspect_ratio=False)[0]
    # noise averages out in the pyramid (as in an area resize); bilinear sampling keeps it
    assert tensor.std() < 0.5 * naive.std()
    assert abs(tensor.mean() - area.mean()) < 0.01


def test_heatmap_refinement_finds_a_symmetric_peak():
    heat = np.full((64, 64, 2), -10.0, np.float32)
    yy, xx = np.mgrid[0:64, 0:64]
    heat[:, :, 0] = 8.0 - 0.5 * ((xx - 30) ** 2 + (yy - 20) ** 2)
    heat[:, :, 1] = -5.0  # peak confidence below 0.5: left untouched
    start = np.array([[30.4 / 64, 20.7 / 64], [0.3, 0.6]])  # window centred on cell (30, 20)
    out = _refine_from_heatmap(start, heat)
    np.testing.assert_allclose(out[0], [30 / 64, 20 / 64], atol=1e-6)
    np.testing.assert_allclose(out[1], start[1])


def test_search_windows_cover_the_image():
    for h, w in ((480, 640), (900, 400), (576, 768)):
        assert len(search_windows(h, w, "full")) == 1
        assert len(search_windows(h, w, "wide")) == 3
        tiles = tile_grid(h, w, max(h, w) / 4)
        xs = [t.cx - t.w / 2 for t in tiles] + [t.cx + t.w / 2 for t in tiles]
        ys = [t.cy - t.h / 2 for t in tiles] + [t.cy + t.h / 2 for t in tiles]
        assert min(xs) <= 0 + 1e-9 and max(xs) >= w - 1e-9
        assert min(ys) <= 0 + 1e-9 and max(ys) >= h - 1e-9
    with pytest.raises(ValueError, match="search mode"):
        search_windows(10, 10, "everything")
