"""ONNX export: tiny copies of both families (and, slow, a real-size S) run in onnxruntime and
match PyTorch within 1e-4; the ``ehps export onnx`` command works on a weight file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ehps.cli.main import main
from ehps.export.onnx import check_onnx, default_output_names, export_onnx
from ehps.modeling import build_model, save_model
from modeling_tiny import TINY

ort = pytest.importorskip("onnxruntime")


def _run(path: Path, images: torch.Tensor, names) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(list(names), {"images": images.numpy()})


@pytest.mark.parametrize("variant", ["smplerx_s32", "smplestx_s"])
def test_tiny_onnx_matches_pytorch(tmp_path: Path, variant: str) -> None:
    torch.manual_seed(0)
    model = build_model(variant, **TINY).eval()
    path = tmp_path / "m.onnx"
    result = export_onnx(model, path, check=False)
    names = default_output_names(model)
    assert ("lhand_bbox" in names) == (variant == "smplerx_s32")
    # dynamic batch: a batch of 3 (the graph was traced with 1)
    images = torch.rand(3, 3, 512, 384, generator=torch.Generator().manual_seed(4))
    got = _run(path, images, result["outputs"])
    with torch.no_grad():
        pred = model(images)
    for name, value in zip(names, got):
        ref = getattr(pred, name)
        assert value.shape == tuple(ref.shape), name
        # float32 in both runtimes with their own kernels: rounding of order u * sqrt(K) of
        # the output's magnitude (K up to ~1e3 terms per dot product, u = 1.2e-7) -> a bound
        # relative to the largest output value, not a fixed number
        scale = max(1.0, float(np.abs(ref.numpy()).max()))
        np.testing.assert_allclose(value, ref.numpy(), atol=1e-4 * scale, rtol=0,
                                   err_msg=name)


def test_extra_outputs_and_static_batch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("smplerx_s32", **TINY).eval()
    names = ["body_pose_rotmat", "hand_joint_img", "cam_param"]
    result = export_onnx(
        model, tmp_path / "x.onnx", outputs=names, batch_size=2, dynamic_batch=False
    )
    assert result["max_abs_diff"] < 1e-4
    diffs = check_onnx(model, tmp_path / "x.onnx", outputs=names, batch_size=2)
    assert set(diffs) == set(names)


def test_export_cli_with_weight_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    torch.manual_seed(0)
    weights = save_model(build_model("smplestx_s", **TINY), tmp_path / "w.safetensors")
    out = tmp_path / "cli.onnx"
    assert main(["export", "onnx", "--weights", str(weights), "-o", str(out)]) == 0
    assert out.is_file() and "max |diff|" in capsys.readouterr().out
    assert main(["export", "onnx", "-o", str(out)]) == 2  # neither weights nor variant


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["smplerx_s32", "smplestx_s"])
def test_real_size_s_onnx_matches_pytorch(tmp_path: Path, variant: str) -> None:
    torch.manual_seed(0)
    model = build_model(variant).eval()
    result = export_onnx(model, tmp_path / "s.onnx", check=True, atol=1e-4)
    assert result["max_abs_diff"] < 1e-4


def test_direct_file_export_path_used_for_big_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ehps.export.onnx as onnx_export

    monkeypatch.setattr(onnx_export, "_EXTERNAL_DATA_BYTES", 0)  # pretend the model is > 2 GB
    torch.manual_seed(0)
    model = build_model("smplestx_s", **TINY).eval()
    result = export_onnx(model, tmp_path / "big.onnx", check=True)
    assert result["max_abs_diff"] < 1e-4
