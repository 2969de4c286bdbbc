"""SSD anchors, decoding and weighted NMS against loop versions of mediapipe's formulas."""

from __future__ import annotations

import math

import numpy as np

from ehps.detection.ssd import (
    FACE_SHORT_RANGE_SSD,
    POSE_DETECTOR_SSD,
    SsdOptions,
    box_iou,
    decode_detections,
    ssd_anchors,
    weighted_nms,
)


def _anchors_loop(opts: SsdOptions) -> list[tuple[float, float]]:
    """SsdAnchorsCalculator::GenerateAnchors as a plain loop (fixed anchor size)."""
    out = []
    layer = 0
    n = len(opts.strides)
    while layer < n:
        per_cell = 0
        last = layer
        while last < n and opts.strides[last] == opts.strides[layer]:
            per_cell += len(opts.aspect_ratios)
            if opts.interpolated_scale_aspect_ratio > 0:
                per_cell += 1
            last += 1
        fm = math.ceil(opts.input_size / opts.strides[layer])
        for y in range(fm):
            for x in range(fm):
                for _ in range(per_cell):
                    out.append(((x + opts.anchor_offset) / fm, (y + opts.anchor_offset) / fm))
        layer = last
    return out


def test_anchor_counts_match_the_models():
    assert ssd_anchors(POSE_DETECTOR_SSD).shape == (2254, 2)
    assert ssd_anchors(FACE_SHORT_RANGE_SSD).shape == (896, 2)


def test_anchors_equal_loop_version():
    for opts in (POSE_DETECTOR_SSD, FACE_SHORT_RANGE_SSD):
        ref = np.array(_anchors_loop(opts), dtype=np.float32)
        np.testing.assert_allclose(ssd_anchors(opts), ref, atol=1e-7)


def _decode_loop(raw, logits, anchors, opts, min_score):
    s = opts.input_size
    boxes, kps, scores = [], [], []
    for i in range(raw.shape[0]):
        logit = min(max(float(logits[i]), -opts.score_clip), opts.score_clip)
        score = 1.0 / (1.0 + math.exp(-logit))
        if score < min_score:
            continue
        ax, ay = anchors[i]
        cx, cy = raw[i, 0] / s + ax, raw[i, 1] / s + ay
        w, h = raw[i, 2] / s, raw[i, 3] / s
        if w < 0 or h < 0:
            continue
        boxes.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        kps.append([[raw[i, 4 + 2 * k] / s + ax, raw[i, 5 + 2 * k] / s + ay]
                    for k in range(opts.num_keypoints)])
        scores.append(score)
    return np.array(boxes), np.array(kps), np.array(scores)


def test_decode_equals_loop_version():
    rng = np.random.default_rng(0)
    anchors = ssd_anchors(POSE_DETECTOR_SSD)
    raw = rng.normal(0, 20, size=(2254, 12)).astype(np.float32)
    raw[:, 2:4] = np.abs(raw[:, 2:4]) + 5
    raw[::7, 2] = -3.0  # negative widths are dropped
    logits = rng.normal(0, 3, size=(2254, 1)).astype(np.float32)
    logits[0] = 500.0  # clipped, not overflowing
    boxes, kps, scores = decode_detections(raw, logits, anchors, POSE_DETECTOR_SSD, 0.6)
    rb, rk, rs = _decode_loop(raw, logits[:, 0], anchors, POSE_DETECTOR_SSD, 0.6)
    assert boxes.shape[0] == rb.shape[0] > 10
    np.testing.assert_allclose(boxes, rb, atol=1e-5)
    np.testing.assert_allclose(kps, rk, atol=1e-5)
    np.testing.assert_allclose(scores, rs, atol=1e-6)


def _weighted_nms_loop(boxes, kps, scores, thr):
    remaining = sorted(range(len(scores)), key=lambda i: -scores[i])
    out = []
    while remaining:
        top = remaining[0]
        group, rest = [], []
        for i in remaining:
            x0 = max(boxes[top][0], boxes[i][0])
            y0 = max(boxes[top][1], boxes[i][1])
            x1 = min(boxes[top][2], boxes[i][2])
            y1 = min(boxes[top][3], boxes[i][3])
            inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
            area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
            iou = inter / (area(boxes[top]) + area(boxes[i]) - inter)
            (group if iou > thr else rest).append(i)
        total = sum(scores[i] for i in group)
        box = [sum(boxes[i][c] * scores[i] for i in group) / total for c in range(4)]
        kp = [[sum(kps[i][k][c] * scores[i] for i in group) / total for c in range(2)]
              for k in range(len(kps[top]))]
        out.append((box, kp, scores[top]))
        remaining = rest
    return out


def test_weighted_nms_equals_loop_version():
    rng = np.random.default_rng(1)
    centres = rng.uniform(0.2, 0.8, size=(5, 2))
    boxes, kps, scores = [], [], []
    for c in centres:  # clusters of jittered boxes around 5 objects
        for _ in range(6):
            cc = c + rng.normal(0, 0.01, 2)
            half = 0.05 + rng.uniform(0, 0.01)
            boxes.append([cc[0] - half, cc[1] - half, cc[0] + half, cc[1] + half])
            kps.append(cc + rng.normal(0, 0.01, (4, 2)))
            scores.append(rng.uniform(0.5, 1.0))
    boxes, kps, scores = np.array(boxes), np.array(kps), np.array(scores)
    ob, ok, os_, idx = weighted_nms(boxes, kps, scores, 0.3, return_index=True)
    ref = _weighted_nms_loop(boxes, kps, scores, 0.3)
    assert len(ref) == ob.shape[0]
    for i, (box, kp, sc) in enumerate(ref):
        np.testing.assert_allclose(ob[i], box, atol=1e-6)
        np.testing.assert_allclose(ok[i], kp, atol=1e-6)
        assert abs(os_[i] - sc) < 1e-6
        assert scores[idx[i]] == sc


def test_box_iou_analytic():
    a = np.array([0.0, 0.0, 2.0, 2.0])
    others = np.array([[1.0, 1.0, 3.0, 3.0], [2.0, 2.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0]])
    np.testing.assert_allclose(box_iou(a, others), [1 / 7, 0.0, 1.0])
