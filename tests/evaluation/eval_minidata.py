"""Miniature copies of the benchmarks' on-disk layouts with synthetic ground truth.

Each ``write_*`` function builds the official folder layout under a root with a handful of
people, and returns ``{sample key: SMPL-X parameters}``: the parameters whose neutral SMPL-X mesh
(+ ``cam_trans``) *is* the ground truth it wrote, in the network-output convention
(``flat_hand_mean=False`` hands, crop-camera translation). Feeding them through the evaluation
pipeline (``oracle_predict_fn``) must give zero error. The ground truth files are written the way
the real benchmarks store them (EHF: a PLY in the mesh frame; AGORA: vertex JSON; UBody: OSX
parameter JSON; HumanData: pickled dicts; 3DPW: SMPL parameters), so the readers are exercised,
not bypassed.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch

from ehps.data.humandata_writer import write_humandata
from ehps.evaluation.benchmarks.base import PARAM_SHAPES, EvalContext, stack_params
from ehps.evaluation.benchmarks.ehf import EHF_CAMERA_ROTVEC
from ehps.geometry.camera import crop_intrinsics_to_image, project_points

__all__ = [
    "random_params",
    "smplx_mesh",
    "write_ehf",
    "write_agora_val",
    "write_agora_test",
    "write_ubody",
    "write_humandata_benchmark",
    "write_pw3d",
]


def random_params(rng: np.random.Generator, depth: float = 40.0) -> dict[str, np.ndarray]:
    """A plausible person facing the camera (y down), ``depth`` metres away."""
    flip = np.array([np.pi, 0.0, 0.0])  # SMPL-X y-up -> camera y-down
    return {
        "global_orient": (flip + rng.normal(0, 0.1, 3)).astype(np.float32),
        "body_pose": rng.normal(0, 0.2, (21, 3)).astype(np.float32),
        "left_hand_pose": rng.normal(0, 0.3, (15, 3)).astype(np.float32),
        "right_hand_pose": rng.normal(0, 0.3, (15, 3)).astype(np.float32),
        "jaw_pose": rng.normal(0, 0.1, 3).astype(np.float32),
        "betas": np.clip(rng.normal(0, 1.0, 10), -2.5, 2.5).astype(np.float32),
        "expression": rng.normal(0, 0.5, 10).astype(np.float32),
        "cam_trans": np.array([rng.normal(0, 0.05), rng.normal(0, 0.05), depth], np.float32),
    }


def smplx_mesh(ctx: EvalContext, params: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(10475, 3) vertices and (144, 3) joints (float64) of one parameter record, camera frame."""
    v, j = ctx.smplx_meshes(stack_params([params]))
    return v[0].double().numpy(), j[0].double().numpy()


def _image(path: Path, w: int, h: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), img)


def _dump(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _write_ply_ascii(path: Path, verts: np.ndarray) -> None:
    lines = ["ply", "format ascii 1.0", f"element vertex {len(verts)}", "property float x",
             "property float y", "property float z", "element face 0",
             "property list uchar int vertex_indices", "end_header"]
    lines += [f"{x:.9f} {y:.9f} {z:.9f}" for x, y, z in verts]
    path.write_text("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- EHF
def write_ehf(root: Path, ctx: EvalContext, n: int = 3, seed: int = 0) -> dict[str, dict]:
    """``root/EHF/data``: EHF.json, NN_img.jpg and NN_align.ply (mesh frame)."""
    rng = np.random.default_rng(seed)
    data = root / "EHF" / "data"
    rot, _ = cv2.Rodrigues(np.array(EHF_CAMERA_ROTVEC).reshape(3, 1))
    images, anns, oracle = [], [], {}
    for k in range(n):
        name = f"{k + 1:02d}_img.jpg"
        _image(data / name, 320, 240, seed + k)
        p = random_params(rng)
        verts, _ = smplx_mesh(ctx, p)
        _write_ply_ascii(data / f"{k + 1:02d}_align.ply", verts @ rot)  # = R^T applied
        images.append({"id": k, "file_name": name, "width": 320, "height": 240})
        box = [60.0 + 10 * k, 20.0, 120.0, 200.0]
        anns.append({"id": 100 + k, "image_id": k, "body_bbox": box, "lefthand_bbox": box,
                     "righthand_bbox": box, "face_bbox": box})
        oracle[str(100 + k)] = p
    _dump(data / "EHF.json", {"images": images, "annotations": anns})
    return oracle


# ----------------------------------------------------------------------------- AGORA
_CROP_W, _CROP_H = 96, 128


def _crop_affine(k: int) -> np.ndarray:
    """img2bb_trans of a crop: the 4K region at (x0, y0) of size 96 s x 128 s -> 96 x 128."""
    s = 4.0 + k
    x0, y0 = 500.0 + 400.0 * k, 300.0 + 50.0 * k
    return np.array([[1 / s, 0.0, -x0 / s], [0.0, 1 / s, -y0 / s]])


def _joints_4k(joints_cam: np.ndarray, img2bb: np.ndarray) -> np.ndarray:
    """Independent projection: the crop camera in crop-image pixels, then the inverse crop."""
    intr = crop_intrinsics_to_image(np.array([0, 0, _CROP_W, _CROP_H], np.float32))
    uv = project_points(torch.from_numpy(joints_cam), intr.focal, intr.princpt).numpy()
    m = np.linalg.inv(np.vstack([img2bb, [0, 0, 1]]))[:2]
    return uv @ m[:, :2].T + m[:, 2]


def write_agora_val(root: Path, ctx: EvalContext, seed: int = 0) -> tuple[dict, dict]:
    """``root/AGORA/data``: AGORA_validation_fix_betas.json, 4K crops + JSON, GT vertex / joint
    JSON files. Two images with two valid people each, plus one invalid person.

    Returns:
        (oracle params by ann id, {ann id: GT 2D joints (127, 2) in 4K px}).
    """
    rng = np.random.default_rng(seed)
    data = root / "AGORA" / "data"
    images, anns, oracle, gt2d = [], [], {}, {}
    aid = 0
    for img_id in range(2):
        stem = f"ag_validationset_synthetic_cam00_{img_id:05d}"
        images.append({"id": img_id, "file_name_3840x2160": f"validation/{stem}.png",
                       "file_name_1280x720": f"validation_1280x720/{stem}_1280x720.png"})
        for person in range(3):
            valid = person < 2
            k = 2 * img_id + person
            p = random_params(rng)
            verts, joints = smplx_mesh(ctx, p)
            img2bb = _crop_affine(k)
            j2d = _joints_4k(joints, img2bb)
            if not valid:
                j2d = j2d + np.array([3000.0, 1500.0])  # far away from everyone
            paths = {n: f"gt/{n}_{aid}.json" for n in ("verts", "j2d", "j3d")}
            _dump(data / paths["verts"], verts.tolist())
            _dump(data / paths["j2d"], j2d[:127].tolist())
            _dump(data / paths["j3d"], joints[:127].tolist())
            anns.append({"id": aid, "image_id": img_id, "is_valid": valid, "kid": False,
                         "gender": "neutral", "bbox": [0, 0, 10, 10],
                         "smplx_verts_path": paths["verts"], "smplx_joints_2d_path": paths["j2d"],
                         "smplx_joints_3d_path": paths["j3d"], "smplx_param_path": "unused.pkl"})
            crop = data / "3840x2160" / "validation_crop" / f"{stem}_ann_id_{aid}.png"
            _image(crop, _CROP_W, _CROP_H, seed + aid)
            _dump(crop.with_suffix(".json"), {"img2bb_trans": img2bb.tolist(),
                                              "resized_height": _CROP_H,
                                              "resized_width": _CROP_W})
            if valid:
                oracle[str(aid)] = p
                gt2d[str(aid)] = j2d[:127]
            aid += 1
    _dump(data / "AGORA_validation_fix_betas.json", {"images": images, "annotations": anns})
    return oracle, gt2d


def write_agora_test(root: Path, ctx: EvalContext, seed: int = 0) -> tuple[dict, dict]:
    """``root/AGORA/data``: AGORA_test_bbox.json and the 4K test crops (two images).

    Returns:
        (oracle params by sample key ``<image>#<pid>``, expected 144 4K joints by the same key).
    """
    rng = np.random.default_rng(seed)
    data = root / "AGORA" / "data"
    boxes, oracle, joints_4k = {}, {}, {}
    k = 0
    for img in range(2):
        name = f"ag_testset_synthetic_cam01_{img:05d}.png"
        boxes[name] = []
        for pid in range(2 - img):
            boxes[name].append({"bbox": [0, 0, 1, 1]})
            p = random_params(rng)
            _, joints = smplx_mesh(ctx, p)
            img2bb = _crop_affine(k)
            crop = data / "3840x2160" / "test_crop" / f"{name[:-4]}_pid_{pid}.png"
            _image(crop, _CROP_W, _CROP_H, seed + k)
            _dump(crop.with_suffix(".json"), {"img2bb_trans": img2bb.tolist(),
                                              "resized_height": _CROP_H,
                                              "resized_width": _CROP_W})
            oracle[f"{name}#{pid}"] = p
            joints_4k[f"{name}#{pid}"] = _joints_4k(joints, img2bb)
            k += 1
    _dump(data / "AGORA_test_bbox.json", boxes)
    return oracle, joints_4k


# ----------------------------------------------------------------------------- UBody
def write_ubody(root: Path, ctx: EvalContext, seed: int = 0) -> dict[str, dict]:
    """``root/UBody``: one scene, 10 annotations. With ``sample_interval=2`` the even ones are
    visited: #2 is kept, #4 belongs to a train video, #6 is kept with its right hand invalid,
    #8 is kept with the person partly outside the image, #10 is crowd.
    """
    rng = np.random.default_rng(seed)
    ub = root / "UBody"
    (ub / "splits").mkdir(parents=True, exist_ok=True)
    np.save(ub / "splits" / "intra_scene_test_list.npy", np.array(["Talk_1", "Other"]))
    scene = "TalkShow"
    images, anns, fits, oracle = [], [], {}, {}
    for i in range(1, 11):
        video = "Train_9" if i == 4 else "Talk_1_Trim3"
        fname = f"/videos/{video}/{i:06d}.jpg"
        _image(ub / "images" / scene / fname.lstrip("/"), 320, 240, seed + i)
        images.append({"id": i, "file_name": fname, "width": 320, "height": 240})
        # person 8 is closer (twice the crop) and at the image border: partly outside
        p = random_params(rng, depth=20.0 if i == 8 else 40.0)
        box = [100.0, 40.0, 100.0, 180.0] if i != 8 else [230.0, 40.0, 120.0, 190.0]
        ann = {"id": 1000 + i, "image_id": i, "bbox": box, "iscrowd": int(i == 10),
               "num_keypoints": 10, "valid_label": 1, "lefthand_valid": True,
               "righthand_valid": i != 6, "face_valid": True}
        anns.append(ann)
        rhand = p["right_hand_pose"] if i != 6 else np.zeros((15, 3), np.float32)
        fits[str(1000 + i)] = {
            "smplx_param": {
                "root_pose": p["global_orient"].tolist(), "body_pose": p["body_pose"].tolist(),
                "lhand_pose": p["left_hand_pose"].tolist(),
                "rhand_pose": p["right_hand_pose"].tolist(),
                "jaw_pose": p["jaw_pose"].tolist(), "shape": p["betas"].tolist(),
                "expr": p["expression"].tolist(), "trans": p["cam_trans"].tolist(),
            },
            "cam_param": {"focal": [500.0, 500.0], "princpt": [160.0, 120.0]},
        }  # fmt: skip
        oracle[f"{scene}/{1000 + i}"] = {**p, "right_hand_pose": rhand}
    _dump(ub / "annotations" / scene / "keypoint_annotation.json",
          {"images": images, "annotations": anns})
    _dump(ub / "annotations" / scene / "smplx_annotation.json", fits)
    return oracle


# ----------------------------------------------------------------------------- HumanData
def write_humandata_benchmark(
    root: Path,
    ctx: EvalContext,
    annotation: str,
    image_dir: str,
    n: int = 6,
    seed: int = 0,
    flat_hand_mean_labels: bool = False,
    vertices3d: bool = False,
    nan_row: int | None = None,
    folder: str = "preprocessed_datasets",
    extreme_beta_row: int | None = None,
) -> dict[str, dict]:
    """A HumanData test file (official pickled-dict layout) and its images.

    ``flat_hand_mean_labels`` stores hands as ``flat_hand_mean=True`` labels (the mean hand
    added); ``vertices3d`` writes per-row GT meshes (``vertices3d_path``); ``nan_row`` puts a
    NaN into that row's 3D keypoints (the official loader drops it); ``extreme_beta_row`` gives
    that row a beta of 4 (SMPLer-X then uses the mean shape). The returned oracle is keyed by row
    index and holds the stored parameters.
    """
    rng = np.random.default_rng(seed)
    recs = [random_params(rng) for _ in range(n)]
    if extreme_beta_row is not None:
        recs[extreme_beta_row]["betas"][0] = 4.0
    mean_l = ctx.smplx.left_hand_mean.numpy().astype(np.float32)
    mean_r = ctx.smplx.right_hand_mean.numpy().astype(np.float32)
    paths = []
    for i in range(n):
        rel = f"seq_{i % 2}/frame_{i:04d}.jpg"
        _image(root / image_dir / rel, 320, 240, seed + i)
        paths.append(rel)
    smplx = {k: np.stack([r[k] for r in recs]) for k in PARAM_SHAPES if k != "cam_trans"}
    smplx["transl"] = np.stack([r["cam_trans"] for r in recs])
    smplx["betas_neutral"] = smplx.pop("betas")
    smplx["betas"] = smplx["betas_neutral"] + 5.0  # gendered betas must NOT be used
    if flat_hand_mean_labels:
        smplx["left_hand_pose"] = smplx["left_hand_pose"] + mean_l
        smplx["right_hand_pose"] = smplx["right_hand_pose"] + mean_r
    kp3d = np.zeros((n, 190, 4), np.float32)
    if nan_row is not None:
        kp3d[nan_row, 1, 0] = np.nan  # left hip, one of the 137 mapped keypoints
    extra = {}
    if vertices3d:
        rel = []
        for i, r in enumerate(recs):
            v, _ = smplx_mesh(ctx, r)
            (root / image_dir / "verts").mkdir(parents=True, exist_ok=True)
            np.save(root / image_dir / "verts" / f"{i}.npy", v)
            rel.append(f"verts/{i}.npy")
        extra["vertices3d_path"] = np.array(rel)
    box = np.tile(np.array([[100.0, 40.0, 100.0, 180.0, 1.0]], np.float32), (n, 1))
    out = root / folder / annotation
    write_humandata(out, image_path=paths, bbox_xywh=box, keypoints3d=kp3d, smplx=smplx,
                    meta={"height": np.full(n, 240), "width": np.full(n, 320)},
                    layout="official")
    if extra:  # add a member the writer does not know about
        with np.load(out, allow_pickle=True) as z:  # our own file, written just above
            members = {k: z[k] for k in z.files}
        np.savez(out, **members, **extra)
    return {str(i): r for i, r in enumerate(recs) if i != nan_row}


# ----------------------------------------------------------------------------- 3DPW
def write_pw3d(root: Path, ctx: EvalContext, n: int = 3, seed: int = 0,
               gender: str = "neutral") -> dict[str, dict]:
    """``root/PW3D/data``: 3DPW_test.json with SMPL parameters, and the images. The oracle uses
    the SMPL-X hands at their identity rotation (``-mean``), which the synthetic SMPL files of
    :mod:`ehps.evaluation.synthetic` make equal to SMPL."""
    rng = np.random.default_rng(seed)
    data = root / "PW3D" / "data"
    images, anns, oracle = [], [], {}
    mean_l = ctx.smplx.left_hand_mean.numpy().astype(np.float32)
    mean_r = ctx.smplx.right_hand_mean.numpy().astype(np.float32)
    for k in range(n):
        p = random_params(rng)
        pose = np.concatenate([p["global_orient"], p["body_pose"].reshape(-1),
                               rng.normal(0, 0.3, 6).astype(np.float32)])  # SMPL hands: no effect
        seq = f"downtown_test_{k % 2:02d}"
        name = f"image_{k:05d}.jpg"
        _image(data / "imageFiles" / seq / name, 320, 240, seed + k)
        images.append({"id": k, "file_name": name, "sequence": seq, "width": 320, "height": 240,
                       "cam_param": {"focal": [1961.0, 1969.0], "princpt": [540.0, 960.0]}})
        anns.append({"id": 50 + k, "image_id": k, "bbox": [100.0, 40.0, 100.0, 180.0],
                     "smpl_param": {"pose": pose.tolist(), "shape": p["betas"].tolist(),
                                    "trans": p["cam_trans"].tolist(), "gender": gender}})
        oracle[str(50 + k)] = {**p, "left_hand_pose": -mean_l, "right_hand_pose": -mean_r,
                               "jaw_pose": np.zeros(3, np.float32),
                               "expression": np.zeros(10, np.float32)}
    _dump(data / "3DPW_test.json", {"images": images, "annotations": anns})
    return oracle
