"""Our safetensors weight format: save/load round trip, official -> safetensors conversion (with
optimizer state in the source), metadata, and errors. Files are read back with the
``safetensors`` library, an independent reader of the format our streaming writer produces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import safetensors.torch
import torch

from ehps.errors import CheckpointError
from ehps.modeling import (
    build_model,
    convert_official_checkpoint,
    load_model,
    load_official_checkpoint,
    save_model,
)
from ehps.modeling.synthetic import write_synthetic_official_checkpoint
from ehps.modeling.weights import read_metadata, write_safetensors
from modeling_tiny import TINY


def _outputs(model, images):
    with torch.no_grad():
        return model(images).to_dict()


@pytest.mark.parametrize("variant,stem", [("smplerx_s32", "patch"), ("smplestx_s", "patch"),
                                          ("smplerx_s32", "conv"), ("smplestx_s", "conv")])
def test_save_load_round_trip(tmp_path: Path, variant: str, stem: str) -> None:
    torch.manual_seed(0)
    model = build_model(variant, **TINY, stem=stem)
    with torch.no_grad():  # move the conv stem's BatchNorm running statistics off their init
        model(torch.rand(2, 3, 512, 384))
    model.eval()
    path = save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(path)
    assert loaded.config == model.config and not loaded.training
    images = torch.rand(1, 3, 512, 384)
    a, b = _outputs(model, images), _outputs(loaded, images)
    for k in a:  # same weights; BLAS may pick other kernels for differently aligned memory
        scale = max(1.0, float(a[k].abs().max()))  # kernel rounding scales with the values
        torch.testing.assert_close(a[k], b[k], atol=1e-5 * scale, rtol=1e-5, msg=k)
    # the file is a standard safetensors file holding exactly the state dict
    plain = safetensors.torch.load_file(str(path))
    ref = model.state_dict()
    assert plain.keys() == ref.keys()
    assert all(torch.equal(plain[k], ref[k]) for k in ref)
    meta = read_metadata(path)
    assert meta["format"] == "ehps-model" and meta["family"] == model.config.family
    assert json.loads(meta["config"])["embed_dim"] == 32
    assert json.loads(meta["config"])["stem"] == stem


def test_bf16_storage_loads_as_float32(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("smplestx_s", **TINY).eval()
    path = save_model(model, tmp_path / "half.safetensors", dtype=torch.bfloat16)
    assert path.stat().st_size < 0.6 * sum(t.numel() * 4 for t in model.state_dict().values())
    loaded = load_model(path)
    w = loaded.decoder.token_conv.weight
    assert w.dtype == torch.float32
    torch.testing.assert_close(w, model.decoder.token_conv.weight.bfloat16().float())


@pytest.mark.parametrize("variant", ["smplerx_s32", "smplestx_s"])
def test_convert_official_checkpoint(tmp_path: Path, variant: str) -> None:
    src = write_synthetic_official_checkpoint(
        tmp_path / "official.pth.tar", variant, seed=2, legacy_names=True, **TINY
    )
    dst = tmp_path / "converted.safetensors"
    report = convert_official_checkpoint(src, dst, variant, **TINY)
    assert report["dropped"] == ["module.smplx_layer.shapedirs"] and report["epoch"] == 9
    assert report["bytes"] == dst.stat().st_size
    reference = load_official_checkpoint(src, variant, **TINY)
    converted = load_model(dst)  # no variant needed
    assert converted.config == reference.config
    images = torch.rand(2, 3, 512, 384)
    a, b = _outputs(reference, images), _outputs(converted, images)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # BatchNorm statistics came along (synthetic file has non-default ones)
    if variant == "smplerx_s32":
        assert converted.box_net.deconv[1].num_batches_tracked.item() == 123


def test_load_model_dispatches_official_files(tmp_path: Path) -> None:
    src = write_synthetic_official_checkpoint(tmp_path / "x.pth.tar", "smplestx_s", **TINY)
    model = load_model(src, variant="smplestx_s", **TINY)
    assert model.config.family == "smplestx"


def test_writer_streams_generators_and_casts(tmp_path: Path) -> None:
    tensors = {
        "a": torch.arange(6, dtype=torch.float32).reshape(2, 3),
        "n": torch.tensor(7),
        "m": torch.tensor([True, False]),
    }
    n = write_safetensors(
        tmp_path / "t.safetensors", iter(tensors.items()), {"k": "v"}, dtype=torch.float16
    )
    back = safetensors.torch.load_file(str(tmp_path / "t.safetensors"))
    assert back["a"].dtype == torch.float16 and torch.equal(back["a"].float(), tensors["a"])
    assert back["n"].dtype == torch.int64 and back["n"].shape == () and back["n"].item() == 7
    assert torch.equal(back["m"], tensors["m"])
    assert n == (tmp_path / "t.safetensors").stat().st_size
    assert read_metadata(tmp_path / "t.safetensors") == {"k": "v"}


def test_load_errors(tmp_path: Path) -> None:
    safetensors.torch.save_file({"x": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(CheckpointError, match="not an ehps model"):
        load_model(tmp_path / "foreign.safetensors")
    torch.manual_seed(0)
    path = save_model(build_model("smplerx_s32", **TINY), tmp_path / "s.safetensors")
    with pytest.raises(CheckpointError, match="not 'smplestx_h'"):
        load_model(path, variant="smplestx_h")
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nope.safetensors")
    broken = build_model("smplerx_s32", **TINY).state_dict()
    broken.pop("face_regressor.expr_out.0.bias")
    meta = read_metadata(path)
    write_safetensors(tmp_path / "broken.safetensors", broken, meta)
    with pytest.raises(CheckpointError, match="face_regressor.expr_out.0.bias"):
        load_model(tmp_path / "broken.safetensors")


def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from ehps.cli.main import main

    # a real-size S file (the CLI takes no size overrides), written in the official format
    src = write_synthetic_official_checkpoint(
        tmp_path / "smpler_x_s32.pth.tar", "smplerx_s32", with_optimizer=False
    )
    dst = tmp_path / "s.safetensors"
    assert main(["convert", str(src), str(dst), "--dtype", "bfloat16"]) == 0
    out = capsys.readouterr().out
    assert "smplerx_s32" in out and "32.0M parameters" in out
    meta = read_metadata(dst)
    assert meta["variant"] == "smplerx_s32" and meta["dtype"] == "bfloat16"
    assert meta["source"] == "smpler_x_s32.pth.tar" and meta["epoch"] == "9"
    assert main(["convert", str(tmp_path / "missing.pth.tar"), str(dst)]) == 2
