"""``ehps infer`` from the command line: outputs of a network checkpoint with the synthetic SMPL-X
(meshes checked against the ``smplx`` package on the saved parameters), overlays, robustness
(corrupt image, broken video frame, no person) with the documented exit codes, missing SMPL-X
files, usage errors, and ``--resume`` on images."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from infer_scene import write_video

from ehps.cli.main import main
from ehps.structures import SMPLX_PARAM_KEYS

BOXES = [[16, 72, 178, 408], [427, 49, 212, 350]]


@pytest.fixture
def photos(tmp_path, assets_dir) -> Path:
    d = tmp_path / "photos"
    d.mkdir()
    for name in ("basketball1.png", "basketball2.png"):
        shutil.copy(assets_dir / name, d / name)
    return d


@pytest.fixture
def boxes_file(tmp_path) -> Path:
    p = tmp_path / "boxes.json"
    p.write_text(json.dumps(BOXES))  # one box list: used for every image
    return p


def _infer(*args: object) -> int:
    return main(["infer", *map(str, args), "--quiet"])


def test_network_checkpoint_images_meshes_and_overlays(photos, boxes_file, tiny_model_files,
                                                       synthetic_smplx_dir, tmp_path):
    smplx = pytest.importorskip("smplx")
    trimesh = pytest.importorskip("trimesh")
    out = tmp_path / "out"
    rc = _infer(photos, "--checkpoint", tiny_model_files.safetensors, "--smplx-path",
                synthetic_smplx_dir, "--boxes", boxes_file, "--out", out, "--device", "cpu",
                "--save-mesh", "obj", "glb", "--render", "--side-view")
    assert rc == 0
    assert sorted(p.name for p in (out / "smplx").glob("*.npz")) == [
        "000000_00.npz", "000000_01.npz", "000001_00.npz", "000001_01.npz"]
    assert sorted(p.name for p in (out / "overlay").glob("*.png")) == ["000000.png",
                                                                        "000001.png"]
    overlay = cv2.imread(str(out / "overlay" / "000001.png"))
    assert overlay.shape == (480, 1280, 3)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_done"] == 2 and summary["people"] == 4 and not summary["failures"]
    meta = json.loads((out / "meta" / "000001_01.json").read_text())
    assert meta["img_path"].endswith("basketball2.png") and meta["track_id"] is None
    # the OBJ is the SMPL-X mesh of the saved parameters, placed with transl_full
    ref = smplx.SMPLX(str(synthetic_smplx_dir / "SMPLX_NEUTRAL.npz"), use_pca=False,
                      flat_hand_mean=False, num_betas=10, num_expression_coeffs=10)
    with np.load(out / "smplx" / "000001_01.npz") as z:
        kw = {k: torch.from_numpy(z[k].reshape(1, -1)) for k in SMPLX_PARAM_KEYS
              if k != "transl"}
        transl_full = z["transl_full"]
    with torch.no_grad():
        verts = ref(**kw).vertices[0].numpy() + transl_full
    mesh = trimesh.load(out / "mesh" / "000001_01.obj", process=False)
    np.testing.assert_allclose(mesh.vertices, verts, atol=1e-4)
    glb = trimesh.load(out / "mesh" / "000001_01.glb", process=False, force="mesh")
    np.testing.assert_allclose(glb.vertices, verts * [1, -1, -1], atol=1e-4)


def test_corrupt_image_is_named_and_skipped(photos, boxes_file, tiny_model_files,
                                            synthetic_smplx_dir, tmp_path, capsys):
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "out"
    args = [photos, str(tmp_path / "missing.jpg"), "--checkpoint",
            tiny_model_files.safetensors, "--smplx-path", synthetic_smplx_dir, "--boxes",
            boxes_file, "--out", out, "--device", "cpu"]
    rc = _infer(*args)
    text = capsys.readouterr().out
    assert rc == 3
    assert "broken.png" in text and "missing.jpg" in text and "2 input(s)/frame(s) failed" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_done"] == 2 and len(summary["failures"]) == 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["failed"]) == ["2"]  # images in natural order: b1, b2, broken
    # --resume after fixing the file: only that image is estimated
    shutil.copy(photos / "basketball1.png", photos / "broken.png")
    stamp = (out / "smplx" / "000000_00.npz").stat().st_mtime_ns
    rc = _infer(*[a for a in args if "missing" not in str(a)], "--resume")
    assert rc == 0
    assert (out / "smplx" / "000002_00.npz").exists()
    assert (out / "smplx" / "000000_00.npz").stat().st_mtime_ns == stamp
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_done"] == 1 and summary["frames_resumed"] == 2


def test_broken_video_frame(tmp_path, tiny_model_files, synthetic_smplx_dir, capsys):
    ramp = np.linspace(0, 200, 96, dtype=np.float32)[None, :, None]
    frames = [np.broadcast_to(ramp + 3 * i, (72, 96, 3)).astype(np.uint8) for i in range(8)]
    video = tmp_path / "clip.avi"
    write_video(video, frames, "mpeg4", corrupt={3})
    boxes = tmp_path / "b.json"
    boxes.write_text(json.dumps([[20, 10, 30, 50]]))
    out = tmp_path / "out"
    rc = _infer(video, "--checkpoint", tiny_model_files.safetensors, "--smplx-path",
                synthetic_smplx_dir, "--boxes", boxes, "--out", out, "--device", "cpu")
    assert rc == 3
    assert "broken frame 3" in capsys.readouterr().out
    done = sorted(int(p.name[:6]) for p in (out / "clip" / "smplx").glob("*.npz"))
    assert done == [0, 1, 2, 4, 5, 6, 7]
    tracks = np.load(out / "clip" / "tracks.npz")
    assert tracks["track_ids"].tolist() == [0]
    assert tracks["t0/valid"].tolist() == [True, True, True, False, True, True, True, True]


def test_no_person_gives_an_empty_valid_result(tmp_path, tiny_model_files, synthetic_smplx_dir,
                                               caplog):
    pytest.importorskip("ai_edge_litert")
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((120, 160, 3), 128, np.uint8))
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        rc = _infer(blank, "--checkpoint", tiny_model_files.safetensors, "--smplx-path",
                    synthetic_smplx_dir, "--out", out, "--device", "cpu")
    assert rc == 0
    assert "no person found" in caplog.text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_done"] == 1 and summary["people"] == 0
    assert summary["sequences"][0]["frames_without_people"] == 1
    assert not (out / "smplx").exists() or not list((out / "smplx").glob("*.npz"))
    with np.load(out / "state" / "000000.npz") as z:
        assert z["boxes"].shape == (0, 4)


def test_missing_smplx_files(photos, boxes_file, tiny_model_files, tmp_path, capsys):
    empty = tmp_path / "no_models"
    empty.mkdir()
    common = [photos / "basketball1.png", "--checkpoint", tiny_model_files.safetensors,
              "--smplx-path", empty, "--boxes", boxes_file, "--device", "cpu"]
    assert _infer(*common, "--render", "--out", tmp_path / "a") == 2
    err = capsys.readouterr().err
    assert "SMPL-X" in err and "smpl-x.is.tue.mpg.de" in err
    assert _infer(*common, "--out", tmp_path / "b") == 0
    with np.load(tmp_path / "b" / "smplx" / "000000_00.npz") as z:
        assert z["global_orient"].shape == (1, 3) and z["joints_cam"].shape == (0, 3)


def test_usage_errors(photos, tmp_path, capsys):
    assert _infer(photos, "--intrinsics", "1,2,3", "--out", tmp_path / "o") == 2
    assert "fx,fy,cx,cy" in capsys.readouterr().err
    assert _infer(tmp_path / "nothing_here.png", "--out", tmp_path / "o") == 2
    assert "nothing to read" in capsys.readouterr().err
    assert _infer(photos, "--checkpoint", tmp_path / "w.pth.tar", "--out", tmp_path / "o") == 2
    assert "weight file not found" in capsys.readouterr().err
