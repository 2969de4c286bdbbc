"""HumanData source semantics (row selection, official shuffle, parameter rules and quirks) and the
bespoke loaders on miniature official layouts written by the tests."""

from __future__ import annotations

import json
import pickle
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from datatest_builders import write_humandata_dataset, write_image

from ehps.bodymodels.joint_sets import JOINT_137_FLIP_PAIRS, JOINT_137_NAMES
from ehps.data.catalog import DatasetSpec, get_dataset_spec
from ehps.data.datasets import build_source
from ehps.data.datasets.agora import AGORA_127_NAMES
from ehps.data.datasets.common import (
    coco_body_box,
    every_nth,
    fit_and_camera,
    official_shuffle,
    process_bboxes,
)
from ehps.data.datasets.ehf import read_ply_vertices
from ehps.data.datasets.humandata_source import HumanDataSource
from ehps.data.datasets.mpii import MPII_NAMES
from ehps.data.datasets.mscoco import COCO_WHOLEBODY_134_NAMES
from ehps.data.humandata_conventions import SMPLX_HAND_MEAN_LEFT, SMPLX_HAND_MEAN_RIGHT
from ehps.data.humandata_writer import write_humandata
from ehps.errors import InputError
from ehps.geometry.crop import process_bbox


def _spec(name: str, **kw: object) -> DatasetSpec:
    return DatasetSpec(name, "humandata", (f"preprocessed_datasets/{name}.npz",), name, **kw)


def test_process_bboxes_matches_scalar_version() -> None:
    rng = np.random.default_rng(0)
    boxes = np.concatenate([rng.uniform(-50, 600, size=(200, 2)), rng.uniform(-5, 300, (200, 2))],
                           axis=1)
    got, valid = process_bboxes(boxes, 640, 480, ratio=1.1)
    for k in range(200):
        ref = process_bbox(boxes[k], 640, 480, ratio=1.1)
        assert valid[k] == (ref is not None)
        if ref is not None:
            np.testing.assert_allclose(got[k], ref, rtol=1e-5, atol=1e-3)


def test_loader_helpers_match_the_official_loops() -> None:
    items = [f"ann{i}" for i in range(23)]
    for interval in (0, 1, 3, 5):
        ref = [a for count, a in enumerate(items, start=1) if count % max(1, interval) == 0]
        assert list(every_nth(items, interval)) == ref
    ref = list(items)
    random.seed(7)
    random.shuffle(ref)  # the official one-time shuffle
    assert official_shuffle(items, 7) == ref
    assert official_shuffle(items, None) == items
    hw, box = coco_body_box({"width": 640, "height": 480}, [10, 20, 100, 50], 1.25)
    assert hw == (480, 640)
    np.testing.assert_array_equal(box, process_bbox(np.array([10, 20, 100, 50], np.float32),
                                                    640, 480, ratio=1.25))
    assert coco_body_box({"width": 640, "height": 480}, [10, 20, 0, 50], 1.25)[1] is None
    assert fit_and_camera(None) == (None, None, None)
    entry = {"smplx_param": {"root_pose": [0.1, 0.2, 0.3], "lhand_pose": [0.0] * 45},
             "cam_param": {"focal": [500, 510], "princpt": [320, 240]}}
    fit, focal, princpt = fit_and_camera(entry, lhand_valid=False)
    np.testing.assert_allclose(fit.global_orient, [0.1, 0.2, 0.3], rtol=1e-6)
    assert fit.left_hand_pose is None  # the flag reaches fit_from_official_dict
    assert focal.dtype == np.float32 and focal.tolist() == [500, 510]
    assert princpt.tolist() == [320, 240]


def test_row_selection_and_official_shuffle(data_root: Path) -> None:
    written = write_humandata_dataset(data_root, "A", n=23)
    kw = {k: v for k, v in written.items() if k != "joints"}
    kw["bbox_xywh"] = kw["bbox_xywh"].copy()
    kw["bbox_xywh"][6] = [700.0, 10.0, 20.0, 20.0, 1.0]  # outside the image: dropped
    k3 = kw["keypoints3d"].copy()
    k3[9, 0, 0] = np.nan  # NaN 3D keypoints: dropped
    kw["keypoints3d"] = k3
    write_humandata(data_root / "preprocessed_datasets" / "A.npz", **kw)
    plain = HumanDataSource(_spec("A", sample_interval=3), data_root, shuffle_seed=None)
    kept = [plain.locate(i)[1] for i in range(len(plain))]
    assert kept == [r for r in range(23) if r % 3 == 0 and r not in (6, 9)]
    shuffled = HumanDataSource(_spec("A", sample_interval=3), data_root)
    ref = list(kept)
    random.seed(2023)
    random.shuffle(ref)  # the official one-time shuffle of the datalist
    assert [shuffled.locate(i)[1] for i in range(len(shuffled))] == ref


def test_parameter_rules(data_root: Path) -> None:
    written = write_humandata_dataset(data_root, "A", n=4)
    p = written["smplx"]
    neutral = np.full((4, 10), 0.25, np.float32)
    kw = {k: v for k, v in written.items() if k != "joints"}
    kw["smplx"] = {**p, "betas_neutral": neutral}
    write_humandata(data_root / "preprocessed_datasets" / "A.npz", **kw)
    flat = HumanDataSource(_spec("A", flat_hand_mean_in=frozenset({"smplerx"})), data_root,
                           shuffle_seed=None)
    fit = flat.annotation(2).fit
    np.testing.assert_allclose(fit.betas, 0.25)  # betas_neutral preferred
    np.testing.assert_allclose(fit.left_hand_pose, p["left_hand_pose"][2] - SMPLX_HAND_MEAN_LEFT,
                               atol=1e-6)
    np.testing.assert_allclose(fit.right_hand_pose,
                               p["right_hand_pose"][2] - SMPLX_HAND_MEAN_RIGHT, atol=1e-6)
    talk = HumanDataSource(_spec("A", quirks=frozenset({"talkshow_hands"})), data_root,
                           shuffle_seed=None).annotation(2).fit
    np.testing.assert_allclose(talk.right_hand_pose, p["left_hand_pose"][2])  # official bug
    # an SMPL-labelled dataset: betas dropped, body pose truncated to 21 joints
    smpl = {"global_orient": p["global_orient"], "body_pose": np.ones((4, 23, 3), np.float32),
            "betas": p["betas"], "transl": p["transl"]}
    kw.pop("smplx")
    write_humandata(data_root / "preprocessed_datasets" / "S.npz", smpl=smpl, **kw)
    for i in range(3):
        write_image(data_root / "S" / f"img_{i}.png")
    fit = HumanDataSource(_spec("S"), data_root).annotation(0).fit
    assert fit.source == "smpl" and not fit.betas.any() and fit.body_pose.shape == (21, 3)
    assert fit.left_hand_pose is None and fit.expression is None


def test_smplestx_skips(data_root: Path) -> None:
    written = write_humandata_dataset(data_root, "A", n=6)
    kw = {k: v for k, v in written.items() if k != "joints"}
    kw["meta"] = {**kw["meta"], "iscrowd": np.array([0, 1, 0, 0, 0, 0]),
                  "num_keypoints": np.array([5, 5, 0, 5, 5, 5]),
                  "valid_label": np.array([1, 1, 1, 0, 1, 1])}
    extra = np.zeros((6, 1), np.float32)
    extra[4] = 0.5  # a kid (AGORA betas_extra)
    kw["smplx"] = {**kw["smplx"], "betas_extra": extra}
    write_humandata(data_root / "preprocessed_datasets" / "A.npz", **kw)
    est = HumanDataSource(_spec("A"), data_root, system="smplestx", shuffle_seed=None)
    assert [est.locate(i)[1] for i in range(len(est))] == [0, 5]
    assert len(HumanDataSource(_spec("A"), data_root, shuffle_seed=None)) == 6


def test_missing_image_size_is_a_clear_error(data_root: Path) -> None:
    written = write_humandata_dataset(data_root, "A", n=2)
    kw = {k: v for k, v in written.items() if k not in ("joints", "meta")}
    write_humandata(data_root / "preprocessed_datasets" / "A.npz", **kw)
    with pytest.raises(InputError, match="image_hw"):
        HumanDataSource(_spec("A"), data_root)
    assert len(HumanDataSource(_spec("A", image_hw=(480, 640)), data_root)) == 2


def test_flip_pairs_agree_with_the_named_sets() -> None:
    """Flipping in a source joint set and then moving to the 137 set (official order) equals
    moving first and flipping with the 137 pairs: every source pair lands on a 137 pair."""
    pairs137 = {frozenset(p) for p in JOINT_137_FLIP_PAIRS}
    coco_pairs = [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (18, 21),
                  (19, 22), (20, 23), *((24 + k, 45 + k) for k in range(21)),
                  (66, 82), (67, 81), (68, 80), (69, 79), (70, 78), (71, 77), (72, 76), (73, 75),
                  (83, 92), (84, 91), (85, 90), (86, 89), (87, 88), (97, 101), (98, 100),
                  (102, 111), (103, 110), (104, 109), (105, 108), (106, 113), (107, 112),
                  (114, 120), (115, 119), (116, 118), (121, 125), (122, 124), (126, 130),
                  (127, 129), (131, 133)]
    mpii_pairs = [(0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)]
    for names, pairs in ((COCO_WHOLEBODY_134_NAMES, coco_pairs), (MPII_NAMES, mpii_pairs)):
        for a, b in pairs:
            if names[a] in JOINT_137_NAMES and names[b] in JOINT_137_NAMES:
                ia, ib = JOINT_137_NAMES.index(names[a]), JOINT_137_NAMES.index(names[b])
                assert frozenset((ia, ib)) in pairs137, (names[a], names[b])
    assert sum(n in JOINT_137_NAMES for n in COCO_WHOLEBODY_134_NAMES) == 133 - 2 + 1
    assert sum(n in JOINT_137_NAMES for n in AGORA_127_NAMES) == 25 + 40 + 51


def _wholebody_ann(aid: int, image_id: int, rng: np.random.Generator, **kw: object) -> dict:
    def kps(n: int) -> list[float]:
        pts = np.concatenate([rng.uniform(250, 400, (n, 1)), rng.uniform(120, 380, (n, 1)),
                              np.full((n, 1), 2.0)], axis=1)
        return pts.reshape(-1).tolist()

    ann = {"id": aid, "image_id": image_id, "bbox": [220.0, 100.0, 200.0, 300.0], "iscrowd": 0,
           "num_keypoints": 10, "keypoints": kps(17), "foot_kpts": kps(6),
           "lefthand_kpts": kps(21), "righthand_kpts": kps(21), "face_kpts": kps(68),
           "lefthand_valid": True, "righthand_valid": False, "face_valid": True,
           "lefthand_box": [300.0, 200.0, 30.0, 30.0], "righthand_box": [0, 0, 0, 0],
           "face_box": [300.0, 110.0, 40.0, 50.0], "valid_label": 1}
    ann["lefthand_kpts"][2] = 0.0  # invalid hand-wrist point: filled from the body wrist
    ann.update(kw)
    return ann


def _neuralannot(rng: np.random.Generator) -> dict:
    return {"smplx_param": {"root_pose": rng.normal(size=3).tolist(),
                            "body_pose": rng.normal(size=63).tolist(),
                            "shape": rng.normal(size=10).tolist(), "trans": [0.0, 0.0, 5.0],
                            "lhand_pose": rng.normal(size=45).tolist(),
                            "rhand_pose": rng.normal(size=45).tolist(),
                            "jaw_pose": [0.1, 0.0, 0.0], "expr": rng.normal(size=10).tolist()},
            "cam_param": {"focal": [1500.0, 1500.0], "princpt": [320.0, 240.0]}}


def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def test_mscoco_loader(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    ann_dir = tmp_path / "MSCOCO" / "annotations"
    anns = [_wholebody_ann(10, 1, rng), _wholebody_ann(11, 1, rng, iscrowd=1),
            _wholebody_ann(12, 1, rng), _wholebody_ann(13, 1, rng, num_keypoints=0)]
    _write_json(ann_dir / "coco_wholebody_train_v1.0.json",
                {"images": [{"id": 1, "file_name": "a.jpg", "width": 640, "height": 480}],
                 "annotations": anns})
    _write_json(ann_dir / "MSCOCO_train_SMPLX_all_NeuralAnnot.json", {"10": _neuralannot(rng)})
    src = build_source(get_dataset_spec("MSCOCO"), tmp_path, shuffle_seed=None)
    assert len(src) == 2 and [src.annotation(i).extras["ann_id"] for i in range(2)] == [10, 12]
    a = src.annotation(0)
    raw = np.asarray(anns[0]["keypoints"]).reshape(17, 3)
    np.testing.assert_allclose(a.joints_img[JOINT_137_NAMES.index("L_Wrist")], raw[9, :2])
    np.testing.assert_allclose(a.joints_img[0], (raw[11, :2] + raw[12, :2]) / 2)  # pelvis
    np.testing.assert_allclose(a.bbox_xywh, process_bbox(np.array(anns[0]["bbox"]), 640, 480,
                                                         ratio=1.2))
    assert a.rhand_bbox_xyxy is None and a.lhand_bbox_xyxy is not None
    assert a.fit is not None and a.fit.right_hand_pose is None  # righthand_valid False
    assert a.fit_joint_img and a.joints_cam is None
    np.testing.assert_allclose(a.focal, [1500.0, 1500.0])
    assert src.annotation(1).fit is None
    assert a.image_path.endswith("MSCOCO/images/train2017/a.jpg")


def test_mpii_human36m_pw3d_loaders(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    img = {"id": 1, "file_name": "im.jpg", "width": 640, "height": 480}
    kps = np.concatenate([rng.uniform(200, 400, (16, 2)), np.ones((16, 1))], 1)
    _write_json(tmp_path / "MPII/data/annotations/train.json",
                {"images": [img], "annotations": [
                    {"id": 5, "image_id": 1, "bbox": [200, 100, 200, 300],
                     "keypoints": kps.reshape(-1).tolist()}]})
    _write_json(tmp_path / "MPII/data/annotations/MPII_train_SMPLX_NeuralAnnot.json",
                {"5": _neuralannot(rng)})
    mpii = build_source(get_dataset_spec("MPII"), tmp_path).annotation(0)
    np.testing.assert_allclose(mpii.joints_img[JOINT_137_NAMES.index("R_Ankle")], kps[0, :2])
    assert mpii.joints_valid.sum() == 14  # Thorax and Head_top have no 137 slot
    assert mpii.fit_pose_invalid == (7, 8, 20, 21) and len(mpii.fit_joint_invalid) == 6

    h36 = tmp_path / "Human36M" / "annotations"
    images = [{"id": i, "file_name": f"s_01/{i}.jpg", "width": 1000, "height": 1000,
               "subject": 1, "action_idx": 2, "subaction_idx": 1, "frame_idx": i, "cam_idx": 1}
              for i in range(12)]
    _write_json(h36 / "Human36M_subject1_data.json", {"images": images, "annotations": [
        {"id": i, "image_id": i, "bbox": [400, 300, 200, 400]} for i in range(12)]})
    _write_json(h36 / "Human36M_subject1_camera.json",
                {"1": {"R": np.eye(3).tolist(), "t": [10.0, 20.0, 5000.0], "f": [1145.0, 1144.0],
                       "c": [512.0, 515.0]}})
    _write_json(h36 / "Human36M_subject1_joint_3d.json", {})
    _write_json(h36 / "Human36M_subject1_SMPLX_NeuralAnnot.json",
                {"2": {"1": {str(i): _neuralannot(rng)["smplx_param"] for i in range(12)}}})
    spec = replace(get_dataset_spec("Human36M"),
                   files=tuple(f"Human36M/annotations/Human36M_subject1_{k}.json"
                               for k in ("data", "camera", "joint_3d", "SMPLX_NeuralAnnot")))
    h = build_source(spec, tmp_path, shuffle_seed=None)
    assert [h.annotation(i).extras["ann_id"] for i in range(len(h))] == [0, 5, 10]
    np.testing.assert_allclose(h.annotation(0).cam_t, [0.01, 0.02, 5.0])
    assert h.annotation(0).targets_from_fit and h.annotation(0).is_3d

    pose = rng.normal(size=72).tolist()
    _write_json(tmp_path / "PW3D/data/3DPW_train.json", {
        "images": [{"id": 1, "file_name": "image_00000.jpg", "sequence": "courtyard",
                    "width": 1080, "height": 1920,
                    "cam_param": {"focal": [1962.0, 1969.0], "princpt": [540.0, 960.0]}}],
        "annotations": [{"id": 3, "image_id": 1, "bbox": [300, 500, 400, 900],
                         "smpl_param": {"pose": pose, "shape": [0.0] * 10, "trans": [0, 0, 4],
                                        "gender": "male"}}]})
    pw = build_source(get_dataset_spec("PW3D"), tmp_path).annotation(0)
    np.testing.assert_allclose(pw.fit.global_orient, pose[:3], rtol=1e-6)
    np.testing.assert_allclose(pw.fit.body_pose.reshape(-1), pose[3:66], rtol=1e-6)
    assert pw.shape_valid is False and pw.fit.left_hand_pose is None
    assert pw.image_path.endswith("PW3D/data/imageFiles/courtyard/image_00000.jpg")


def test_ubody_loader(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    scene = "Magic_show"
    img_dir = tmp_path / "UBody" / "images" / scene
    images = [{"id": 1, "file_name": "/vid_train/0001.jpg", "width": 640, "height": 480},
              {"id": 2, "file_name": "vid_test_Trim1/0001.jpg", "width": 640, "height": 480}]
    for im in images:
        write_image(img_dir / im["file_name"].lstrip("/"))
    anns = [_wholebody_ann(k, 1 + k % 2, rng) for k in range(1, 41)]
    anns[19]["valid_label"] = 0  # count 20: kept by the interval, dropped by the label
    _write_json(tmp_path / "UBody/annotations" / scene / "keypoint_annotation.json",
                {"images": images, "annotations": anns})
    _write_json(tmp_path / "UBody/annotations" / scene / "smplx_annotation.json",
                {str(a["id"]): _neuralannot(rng) for a in anns})
    (tmp_path / "UBody/splits").mkdir(parents=True)
    np.save(tmp_path / "UBody/splits/intra_scene_test_list.npy", np.array(["vid_test"]))
    src = build_source(get_dataset_spec("UBody"), tmp_path, shuffle_seed=None)
    # the 1-based interval keeps counts 10, 20, 30, 40 (even ids: the training video);
    # id 20 has valid_label 0
    assert [src.annotation(i).extras["ann_id"] for i in range(len(src))] == [10, 30, 40]
    anns[9]["image_id"] = 2  # the same annotation in a test-list video is skipped
    _write_json(tmp_path / "UBody/annotations" / scene / "keypoint_annotation.json",
                {"images": images, "annotations": anns})
    src = build_source(get_dataset_spec("UBody"), tmp_path, shuffle_seed=None)
    assert [src.annotation(i).extras["ann_id"] for i in range(len(src))] == [30, 40]
    anns2 = [_wholebody_ann(k, 1, rng) for k in range(1, 21)]
    _write_json(tmp_path / "UBody/annotations" / scene / "keypoint_annotation.json",
                {"images": images, "annotations": anns2})
    _write_json(tmp_path / "UBody/annotations" / scene / "smplx_annotation.json",
                {str(a["id"]): _neuralannot(rng) for a in anns2})
    src = build_source(get_dataset_spec("UBody"), tmp_path, shuffle_seed=None)
    assert [src.annotation(i).extras["ann_id"] for i in range(len(src))] == [10, 20]
    a = src.annotation(0)
    np.testing.assert_allclose(a.bbox_xywh, process_bbox(np.array([220.0, 100, 200, 300]), 640,
                                                         480, ratio=1.25))
    lb = anns2[9]["lefthand_box"]
    c = np.array([lb[0] + lb[2] / 2, lb[1] + lb[3] / 2])
    np.testing.assert_allclose(a.lhand_bbox_xyxy, [*(c - 0.65 * 15), *(c + 0.65 * 15)], atol=1e-4)
    assert a.targets_from_fit and a.is_3d


def test_agora_loader(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    data = tmp_path / "AGORA" / "data"
    crop = data / "3840x2160" / "train_0_crop"
    write_image(crop / "scene_00001_ann_id_7.png")
    img2bb = [[0.5, 0.0, -100.0], [0.0, 0.5, -50.0]]
    _write_json(crop / "scene_00001_ann_id_7.json",
                {"img2bb_trans": img2bb, "resized_height": 480, "resized_width": 640})
    j2 = rng.uniform(300, 1200, size=(127, 2))
    j3 = rng.normal(size=(127, 3))
    _write_json(data / "j2d.json", j2.tolist())
    _write_json(data / "j3d.json", j3.tolist())
    params = {"global_orient": np.zeros((1, 3)), "body_pose": np.ones((1, 63)) * 0.1,
              "betas": np.arange(11.0)[None], "betas_neutral": np.full((1, 10), 0.5),
              "left_hand_pose": np.zeros((1, 45)), "right_hand_pose": np.zeros((1, 45)),
              "jaw_pose": np.zeros((1, 3)), "expression": np.zeros((1, 10)),
              "transl": np.array([[0.0, 1.0, 10.0]])}
    (data / "p.pkl").write_bytes(pickle.dumps(params))
    _write_json(data / "AGORA_train_fix_betas.json", {
        "images": [{"id": 1, "file_name_3840x2160": "train_0/scene_00001.png"}],
        "annotations": [
            {"id": 7, "image_id": 1, "is_valid": True, "kid": False, "gender": "female",
             "lhand_bbox": [600, 400, 60, 60], "rhand_bbox": [800, 400, 60, 60],
             "face_bbox": [700, 200, 80, 100], "smplx_joints_2d_path": "j2d.json",
             "smplx_joints_3d_path": "j3d.json", "smplx_param_path": "p.pkl"},
            {"id": 8, "image_id": 1, "is_valid": False}]})
    src = build_source(get_dataset_spec("AGORA"), tmp_path)
    assert len(src) == 1
    a = src.annotation(0)
    li = AGORA_127_NAMES.index("L_Wrist")
    np.testing.assert_allclose(a.joints_img[JOINT_137_NAMES.index("L_Wrist")],
                               j2[li] * 0.5 - [100, 50], atol=1e-4)
    np.testing.assert_allclose(a.bbox_xywh, [0, 0, 640, 480])
    np.testing.assert_allclose(a.fit.betas, 0.5)  # adult: betas_neutral
    np.testing.assert_allclose(a.lhand_bbox_xyxy, [200, 150, 229, 179], atol=1e-4)  # sanitised
    pelvis, neck = 0, JOINT_137_NAMES.index("Neck")
    face0 = JOINT_137_NAMES.index("Face_5")
    np.testing.assert_allclose(a.joints_cam[face0],
                               (j3[AGORA_127_NAMES.index("Face_5")] - j3[12]), atol=1e-5)
    assert a.joints_cam_relative and a.depth_per_part and np.allclose(a.joints_cam[pelvis], 0)
    assert neck == 7
    (data / "p.pkl").write_bytes(pickle.dumps({"global_orient": random.Random}))
    with pytest.raises(InputError, match="refusing to unpickle"):
        src.annotation(0)


def test_ehf_loader_and_ply(tmp_path: Path) -> None:
    data = tmp_path / "EHF" / "data"
    _write_json(data / "EHF.json", {
        "images": [{"id": 1, "file_name": "01_img.jpg", "width": 1600, "height": 1200}],
        "annotations": [{"id": 1, "image_id": 1, "body_bbox": [500, 100, 600, 1000],
                         "lefthand_bbox": [600, 500, 80, 80], "righthand_bbox": [900, 500, 80, 80],
                         "face_bbox": [750, 150, 100, 120]}]})
    src = build_source(get_dataset_spec("EHF"), tmp_path)
    a = src.annotation(0)
    assert a.extras["mesh_gt_path"].endswith("EHF/data/01_align.ply")
    verts = np.random.default_rng(5).normal(size=(5, 3)).astype(np.float32)
    header = ("ply\nformat {}\nelement vertex 5\nproperty float x\nproperty float y\n"
              "property float z\nelement face 0\nproperty list uchar int vertex_indices\n"
              "end_header\n")
    (data / "a.ply").write_text(header.format("ascii 1.0")
                                + "\n".join(" ".join(f"{v:.7f}" for v in r) for r in verts) + "\n")
    np.testing.assert_allclose(read_ply_vertices(data / "a.ply"), verts, atol=1e-6)
    (data / "b.ply").write_bytes(header.format("binary_little_endian 1.0").encode()
                                 + verts.astype("<f4").tobytes())
    np.testing.assert_array_equal(read_ply_vertices(data / "b.ply"), verts)
