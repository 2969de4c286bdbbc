"""Golden outputs of ``ehps infer``: the same inputs must give the same files (see
``tests/golden_outputs.py`` for what is compared and the tolerances).

Two cases, both run through the command line (the most stable interface):

- ``infer_network``: the tiny random-weight SMPLest-X (official format converted to safetensors)
  with the synthetic SMPL-X on five 480x360 crops of the bundled photo, once as independent images
  and once as a lossless (FFV1) video: person boxes given (a third person appears in frame 2,
  the second is missing in frame 3), meshes and overlays written; the video is tracked and
  smoothed (``tracks.npz``, ``overlay.mp4``).
- ``infer_embedded``: the embedded estimator (mediapipe landmarks + Anny fit, full schedule) on
  the two bundled photos as a ``--sequence`` (tracked, smoothed, meshes, overlays).

Regenerate with ``tests/golden/regen.sh`` (only when a change of the outputs is intended).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from ehps.cli.main import main
from golden_outputs import Normaliser, check_golden, collect_folder

pytest.importorskip("av")

#: (x, y) of the 480x360 window cut from basketball1.png for each frame.
WINDOWS = [(0, 60), (12, 60), (24, 62), (36, 64), (48, 66)]
#: the two players in basketball1.png (xywh, original pixels), and a third "person" box
PLAYERS = [[16, 72, 178, 408], [427, 49, 212, 350]]
THIRD = [200, 90, 80, 160]


def _frame_boxes(i: int, x0: int, y0: int) -> list[list[float]]:
    boxes = [[b[0] - x0, b[1] - y0, b[2], b[3]] for b in PLAYERS]
    if i == 3:
        boxes = boxes[:1]  # the second player is not given in frame 3 (a gap the tracker bridges)
    if i >= 2:
        boxes.append([THIRD[0] - x0 + 4 * i, THIRD[1] - y0, THIRD[2], THIRD[3]])
    return [[float(v) for v in b] for b in boxes]


def _write_ffv1(path: Path, frames: list[np.ndarray], fps: int = 10) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "bgr0"
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def network_inputs(root: Path, assets_dir: Path) -> tuple[Path, Path, Path]:
    """The frames folder, the video and the boxes file of the ``infer_network`` case."""
    photo = cv2.imread(str(assets_dir / "basketball1.png"))[:, :, ::-1]
    frames_dir = root / "frames"
    frames_dir.mkdir(parents=True)
    frames, table = [], {}
    for i, (x0, y0) in enumerate(WINDOWS):
        frame = np.ascontiguousarray(photo[y0 : y0 + 360, x0 : x0 + 480])
        frames.append(frame)
        cv2.imwrite(str(frames_dir / f"f{i:03d}.png"), frame[:, :, ::-1])
        table[f"f{i:03d}.png"] = table[f"walk.mkv#{i}"] = _frame_boxes(i, x0, y0)
    video = root / "walk.mkv"
    _write_ffv1(video, frames)
    boxes = root / "boxes.json"
    boxes.write_text(json.dumps({"format": "xywh", "boxes": table}))
    return frames_dir, video, boxes


def test_infer_network_golden(tmp_path, assets_dir, tiny_model_files, synthetic_smplx_dir,
                              regen_golden):
    frames_dir, video, boxes = network_inputs(tmp_path / "in", assets_dir)
    out = tmp_path / "out"
    rc = main(["infer", str(frames_dir), str(video), "--checkpoint",
               str(tiny_model_files.safetensors), "--smplx-path", str(synthetic_smplx_dir),
               "--boxes", str(boxes), "--out", str(out), "--device", "cpu", "--render",
               "--save-mesh", "obj", "--quiet"])
    assert rc == 0
    norm = Normaliser({str(tmp_path): "<tmp>", str(tiny_model_files.safetensors.parent): "<w>",
                       str(synthetic_smplx_dir): "<smplx>"})
    check_golden("infer_network", collect_folder(out, norm), regen_golden, pytest.fail)


@pytest.mark.embedded
def test_infer_embedded_golden(tmp_path, assets_dir, regen_golden):
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("anny")
    inputs = []
    for name in ("basketball1.png", "basketball2.png"):
        shutil.copy(assets_dir / name, tmp_path / name)
        inputs.append(str(tmp_path / name))
    out = tmp_path / "out"
    rc = main(["infer", *inputs, "--sequence", "--fps", "10", "--save-mesh", "obj",
               "--render", "--out", str(out), "--quiet"])
    assert rc == 0
    norm = Normaliser({str(tmp_path): "<tmp>"})
    check_golden("infer_embedded", collect_folder(out, norm), regen_golden, pytest.fail)
