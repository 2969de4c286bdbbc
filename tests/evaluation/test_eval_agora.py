"""AGORA matching, detection scores, part errors, summary and the submission writer, against
hand-derived cases."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
import torch

from ehps.errors import InputError
from ehps.evaluation.agora_server import (
    AgoraPersonResult,
    agora_part_errors_mm,
    keypoint_box_iou,
    match_greedy_2d,
    precision_recall_f1,
    summarize_agora,
    write_agora_prediction,
    zip_agora_predictions,
)


def _person(x0: float, y0: float, w: float = 100.0, h: float = 300.0, n: int = 24) -> np.ndarray:
    """n keypoints spread over the box (x0, y0, w, h), including its corners."""
    g = np.random.default_rng(int(x0 + 7 * y0))
    pts = np.stack([x0 + g.uniform(0, w, n), y0 + g.uniform(0, h, n)], axis=1)
    pts[0] = (x0, y0)
    pts[1] = (x0 + w, y0 + h)
    return pts


def test_keypoint_box_iou_hand_derived():
    a = np.array([[0.0, 0.0], [9.0, 9.0]])  # inclusive 10x10 box
    assert keypoint_box_iou(a, a) == pytest.approx(1.0)
    assert keypoint_box_iou(a, a + 100) == 0.0
    b = np.array([[5.0, 0.0], [14.0, 9.0]])  # overlap 5x10 = 50, union 150
    assert keypoint_box_iou(a, b) == pytest.approx(50 / 150)


def test_matching_pairs_misses_and_false_positives():
    gts = [_person(0, 0), _person(1000, 0), _person(2000, 500)]
    preds = [
        gts[1] + 3.0,  # close to GT 1
        _person(3000, 1500),  # nowhere near anyone: false positive
        gts[0] - 2.0,  # close to GT 0
    ]
    m = match_greedy_2d(preds, gts)
    assert sorted(m.pairs) == [(0, 1), (2, 0)]
    assert m.false_positives == [1]
    assert m.misses == [2]
    assert m.invalid == []


def test_matching_excludes_invalid_ground_truth():
    gts = [_person(0, 0), _person(1000, 0)]
    preds = [gts[0] + 1.0, gts[1] + 1.0]
    m = match_greedy_2d(preds, gts, gt_valid=[True, False])
    assert m.pairs == [(0, 0)]
    assert m.invalid == [1]
    assert m.misses == []
    assert m.false_positives == [1]  # its only overlapping ground truth is invalid


def test_matching_cost_is_the_spectral_norm():
    gt = _person(0, 0)
    # A: rank-1 error (spectral = Frobenius = 12); B: equal singular values 10 (Frobenius 14.1)
    err_a = np.zeros((24, 2))
    err_a[:, 0] = 12.0 / np.sqrt(24)
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(24, 2)))
    err_b = q * 10.0
    assert np.linalg.norm(err_a) < np.linalg.norm(err_b)  # Frobenius would pick A
    m = match_greedy_2d([gt + err_a, gt + err_b], [gt])
    assert m.pairs == [(1, 0)]  # the spectral norm (official rule) picks B
    assert m.false_positives == [0]


def test_precision_recall_f1_hand_computed():
    # 10 valid GT, 2 misses -> TP 8; 3 false positives
    p, r, f1 = precision_recall_f1(10, 2, 3, decimals=None)
    assert p == pytest.approx(8 / 11)
    assert r == pytest.approx(8 / 10)
    assert f1 == pytest.approx(8 / (8 + 2.5))
    assert precision_recall_f1(10, 2, 3) == (0.73, 0.8, 0.76)
    assert precision_recall_f1(0, 0, 5) == (0.0, 0.0, 0.0)


def test_part_errors_zero_for_translated_copy_and_exact_for_known_offset():
    g = torch.Generator().manual_seed(0)
    gt_j = torch.randn(2, 144, 3, generator=g, dtype=torch.float64)
    gt_v = torch.randn(2, 10475, 3, generator=g, dtype=torch.float64)
    shift = torch.tensor([0.5, -1.0, 3.0], dtype=torch.float64)
    ids = torch.arange(778)
    errs = agora_part_errors_mm(
        gt_j + shift, gt_j, gt_v + shift, gt_v, ids, ids + 1000, torch.arange(5023), ids + 3000
    )
    for k, v in errs.items():
        assert float(v.abs().max()) < 1e-9, k
    pred_j = gt_j.clone()
    pred_j[:, 5] += torch.tensor([0.0, 0.022, 0.0], dtype=torch.float64)  # a knee, 22 mm
    errs = agora_part_errors_mm(pred_j, gt_j)
    torch.testing.assert_close(errs["body_mpjpe"], torch.full((2,), 1.0, dtype=torch.float64))
    assert float(errs["lhand_mpjpe"].abs().max()) < 1e-9
    assert set(errs) == {"body_mpjpe", "lhand_mpjpe", "rhand_mpjpe", "face_mpjpe"}


def test_summary_follows_server_rounding_and_zero_for_missed_parts():
    people = [
        AgoraPersonResult(False, {"body_mpjpe": 100.0, "lhand_mpjpe": 40.0, "rhand_mpjpe": 50.0,
                                  "face_mpjpe": 30.0}),
        AgoraPersonResult(False, {"body_mpjpe": 80.0, "lhand_mpjpe": 20.0, "rhand_mpjpe": 30.0,
                                  "face_mpjpe": 10.0}),
        AgoraPersonResult(True),
    ]
    s = summarize_agora(people, num_false_positives=1)
    # TP 2, FN 1, FP 1 -> F1 = 2 / 3 -> 0.67
    assert s["f1"] == 0.67
    assert s["body_mpjpe"] == 90.0
    assert s["lhand_mpjpe"] == 20.0  # (40 + 20 + 0) / 3: the miss counts as 0
    assert s["rhand_mpjpe"] == pytest.approx(26.7)
    assert s["face_mpjpe"] == pytest.approx(13.3)
    assert s["fullbody_mpjpe"] == pytest.approx(round(90.0 + (20.0 + 26.7 + 13.3) / 3, 1))
    assert s["fullbody_nmje"] == pytest.approx(round(s["fullbody_mpjpe"] / 0.67, 1))
    assert s["body_nmje"] == pytest.approx(round(90.0 / 0.67, 1))
    assert s["fullbody_mve"] is None and s["body_nmve"] is None  # no vertex errors given
    s2 = summarize_agora(people, 1, zeros_for_missed_parts=False)
    assert s2["lhand_mpjpe"] == 30.0


def test_submission_file_layout(tmp_path):
    params = {
        "global_orient": np.zeros(3), "body_pose": np.zeros((21, 3)),
        "left_hand_pose": np.zeros((15, 3)), "right_hand_pose": np.ones((15, 3)),
        "jaw_pose": np.zeros(3), "betas": np.arange(10.0), "expression": np.zeros(10),
        "transl": np.array([0.1, 0.2, 30.0]),
    }  # fmt: skip
    joints = np.random.default_rng(0).uniform(0, 3840, (144, 2))
    path = write_agora_prediction(tmp_path / "predictions", "ag_trainset_x_00001.png", 3, params,
                                  joints)
    assert path.name == "ag_trainset_x_00001_personId_3.pkl"
    with open(path, "rb") as fh:  # our own file, written just above
        rec = pickle.load(fh)
    assert rec["joints"].shape == (1, 144, 2)
    np.testing.assert_allclose(rec["joints"][0], joints, rtol=1e-6)
    want = {"transl": (1, 3), "global_orient": (1, 3), "body_pose": (1, 63),
            "left_hand_pose": (1, 45), "right_hand_pose": (1, 45), "jaw_pose": (1, 3),
            "leye_pose": (1, 3), "reye_pose": (1, 3), "expression": (1, 10), "betas": (1, 10)}
    assert {k: v.shape for k, v in rec["params"].items()} == want
    assert all(isinstance(v, np.ndarray) for v in rec["params"].values())
    np.testing.assert_array_equal(rec["params"]["betas"][0], np.arange(10.0))
    z = zip_agora_predictions(tmp_path / "predictions", tmp_path / "pred.zip")
    assert zipfile.ZipFile(z).namelist() == ["predictions/ag_trainset_x_00001_personId_3.pkl"]
    with pytest.raises(InputError, match="body_pose"):
        write_agora_prediction(tmp_path, "a.png", 0, {**params, "body_pose": np.zeros(5)}, joints)
