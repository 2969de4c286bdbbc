"""Official checkpoint import: a synthetic file in the official format (keys and shapes from the
spec, random values, written here) loads strictly, and every tensor reaches its module: the
loaded network's outputs equal a functional forward computed from the raw file tensors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from modeling_reference import official_key_shapes, random_official_network, reference_forward

from ehps.errors import CheckpointError
from ehps.modeling import (
    build_model,
    list_models,
    load_official_checkpoint,
    load_vitpose_backbone,
    save_vitpose_backbone,
)
from ehps.modeling.checkpoint import infer_variant, map_official_key

TINY = {"embed_dim": 64, "depth": 2, "num_heads": 2}


def _save_official(path: Path, network: dict, legacy_zip: bool = False) -> Path:
    ckpt = {
        "epoch": 4,
        "network": network,
        "optimizer": {
            "state": {0: {"step": torch.tensor(5.0), "exp_avg": torch.zeros(3)}},
            "param_groups": [{"lr": 1e-5, "betas": (0.9, 0.999), "params": [0]}],
        },
    }
    torch.save(ckpt, path, _use_new_zipfile_serialization=not legacy_zip)
    return path


@pytest.mark.parametrize("variant", list_models())
def test_module_keys_and_shapes_equal_the_official_table(variant: str) -> None:
    model = build_model(variant, device="meta")
    family = "smplerx" if variant.startswith("smplerx") else "smplestx"
    expected = official_key_shapes(family, model.config.embed_dim, model.config.depth)
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == expected


def test_map_official_key() -> None:
    assert (
        map_official_key("module.backbone.blocks.0.attn.qkv.weight")
        == "encoder.blocks.0.attn.qkv.weight"
    )
    assert (
        map_official_key("module.body_rotation_net.cam_out.0.bias")
        == "body_regressor.cam_out.0.bias"
    )
    assert (
        map_official_key("hand_rotation_net.hand_conv.1.running_var")
        == "hand_regressor.hand_conv.1.running_var"
    )
    assert map_official_key("module.smplx_layer.shapedirs") is None
    assert map_official_key("module.decoder.token_conv.weight") == "decoder.token_conv.weight"


def _compare(pred, ref: dict, atol: float) -> None:
    for name, value in ref.items():
        got = getattr(pred, name).double()
        torch.testing.assert_close(
            got, value, atol=atol, rtol=1e-4, msg=lambda m, n=name: f"{n}: {m}"
        )


@pytest.mark.parametrize("family", ["smplerx", "smplestx"])
@pytest.mark.parametrize("legacy_names", [False, True])
def test_synthetic_official_tiny_checkpoint_matches_functional_reference(
    tmp_path: Path, family: str, legacy_names: bool
) -> None:
    raw = random_official_network(
        family, TINY["embed_dim"], TINY["depth"], seed=3, legacy_names=legacy_names
    )
    path = _save_official(tmp_path / "tiny.pth.tar", raw)
    variant = "smplerx_s32" if family == "smplerx" else "smplestx_s"
    model = load_official_checkpoint(path, variant, **TINY)
    assert not model.training
    images = torch.rand(2, 3, 512, 384, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pred = model(images)
    _compare(pred, reference_forward(raw, images, heads=TINY["num_heads"]), atol=2e-4)


@pytest.mark.parametrize("family", ["smplerx", "smplestx"])
def test_real_size_s_checkpoint_loads_strictly(tmp_path: Path, family: str) -> None:
    raw = random_official_network(family, 384, 12, seed=5, legacy_names=True)
    path = _save_official(tmp_path / "s.pth.tar", raw)
    model = load_official_checkpoint(path)  # variant inferred from the shapes
    assert model.config.name == ("smplerx_s32" if family == "smplerx" else "smplestx_s")
    state = model.state_dict()
    for key, value in raw.items():
        if "smplx_layer" not in key:
            name = key.removeprefix("module.").replace("backbone.", "encoder.", 1)
            name = name.replace("body_rotation_net.", "body_regressor.", 1)
            name = name.replace("hand_rotation_net.", "hand_regressor.", 1)
            assert torch.equal(state.pop(name), value), name
    assert state == {}


@pytest.mark.slow
@pytest.mark.parametrize("family", ["smplerx", "smplestx"])
def test_real_size_s_checkpoint_matches_functional_reference(tmp_path: Path, family: str) -> None:
    raw = random_official_network(family, 384, 12, seed=5)
    path = _save_official(tmp_path / "s.pth.tar", raw)
    model = load_official_checkpoint(path)  # variant inferred from the shapes
    assert model.config.name == ("smplerx_s32" if family == "smplerx" else "smplestx_s")
    images = torch.rand(1, 3, 512, 384, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        pred = model(images)
    _compare(pred, reference_forward(raw, images, heads=12), atol=5e-4)


def test_legacy_non_zip_file_loads(tmp_path: Path) -> None:
    raw = random_official_network("smplestx", 64, 2, seed=1)
    path = _save_official(tmp_path / "legacy.pth.tar", raw, legacy_zip=True)
    model = load_official_checkpoint(path, "smplestx_s", **TINY)
    torch.testing.assert_close(model.encoder.pos_embed, raw["module.encoder.pos_embed"])


def test_missing_unexpected_and_mismatched_keys_are_listed(tmp_path: Path) -> None:
    raw = random_official_network("smplerx", 64, 2)
    del raw["module.face_regressor.jaw_pose_out.0.bias"]
    raw["module.extra_head.weight"] = torch.zeros(3)
    raw["module.box_net.bbox_center.0.bias"] = torch.zeros(4)
    path = _save_official(tmp_path / "broken.pth.tar", raw)
    with pytest.raises(CheckpointError) as err:
        load_official_checkpoint(path, "smplerx_s32", **TINY)
    msg = str(err.value)
    assert "1 missing key(s) [face_regressor.jaw_pose_out.0.bias]" in msg
    assert "1 unexpected key(s) [extra_head.weight]" in msg
    assert "box_net.bbox_center.0.bias: file (4,) vs model (3,)" in msg


def test_wrong_variant_error_suggests_the_right_one(tmp_path: Path) -> None:
    raw = random_official_network("smplerx", 768, 12)
    path = _save_official(tmp_path / "b.pth.tar", raw)
    with pytest.raises(CheckpointError, match="pass variant='smplerx_b32'"):
        load_official_checkpoint(path, "smplerx_s32")
    assert infer_variant({k.removeprefix("module."): v for k, v in raw.items()}) == "smplerx_b32"


def test_unsafe_and_garbage_files_are_refused(tmp_path: Path) -> None:
    import datetime

    torch.save(
        {"network": {"a": torch.zeros(1)}, "x": datetime.date(2020, 1, 1)}, tmp_path / "evil.pth"
    )
    with pytest.raises(CheckpointError, match="weights_only"):
        load_official_checkpoint(tmp_path / "evil.pth", "smplerx_s32")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_official_checkpoint(tmp_path / "garbage.pth", "smplerx_s32")
    with pytest.raises(CheckpointError, match="not found"):
        load_official_checkpoint(tmp_path / "missing.pth", "smplerx_s32")


def test_numpy_scalars_in_the_container_are_tolerated(tmp_path: Path) -> None:
    import numpy as np

    raw = random_official_network("smplestx", 64, 2)
    torch.save(
        {"epoch": np.int64(3), "lr": np.float32(1e-5), "hist": np.zeros(3), "network": raw},
        tmp_path / "np.pth",
    )
    model = load_official_checkpoint(tmp_path / "np.pth", "smplestx_s", **TINY)
    assert model.config.family == "smplestx"


def _vitpose_file(path: Path, c: int, depth: int, drop: str | None = None) -> tuple[Path, dict]:
    shapes = official_key_shapes("smplerx", c, depth)
    g = torch.Generator().manual_seed(0)
    sd = {
        "backbone." + k.removeprefix("encoder."): torch.randn(s, generator=g)
        for k, s in shapes.items()
        if k.startswith("encoder.") and k != "encoder.task_tokens"
    }
    sd["keypoint_head.final_layer.weight"] = torch.zeros(17, c, 1, 1)
    if drop:
        del sd[drop]
    torch.save({"meta": {"epoch": 210}, "state_dict": sd}, path)
    return path, sd


def test_vitpose_backbone_loads_strictly(tmp_path: Path) -> None:
    model = build_model("smplestx_s", **TINY)
    tokens = model.encoder.task_tokens.detach().clone()
    path, sd = _vitpose_file(tmp_path / "vitpose_tiny.pth", 64, 2)
    report = load_vitpose_backbone(model, path)
    assert report["loaded"] == len(sd) - 1 and report["ignored"] == [
        "keypoint_head.final_layer.weight"
    ]
    torch.testing.assert_close(
        model.encoder.blocks[1].mlp.fc2.weight, sd["backbone.blocks.1.mlp.fc2.weight"]
    )
    torch.testing.assert_close(model.encoder.task_tokens, tokens)  # kept (not in ViTPose)


def test_vitpose_backbone_errors(tmp_path: Path) -> None:
    model = build_model("smplerx_s32", **TINY)
    path, _ = _vitpose_file(tmp_path / "partial.pth", 64, 2, drop="backbone.blocks.0.norm1.bias")
    with pytest.raises(CheckpointError, match=r"1 missing key\(s\) \[blocks.0.norm1.bias\]"):
        load_vitpose_backbone(model, path)
    wide, _ = _vitpose_file(tmp_path / "wide.pth", 128, 2)
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_vitpose_backbone(model, wide)
    torch.save({"state_dict": {"encoder.pos_embed": torch.zeros(1)}}, tmp_path / "bare.pth")
    with pytest.raises(CheckpointError, match="no 'backbone"):
        load_vitpose_backbone(model, tmp_path / "bare.pth")


@pytest.mark.parametrize("stem", ["patch", "conv"])
def test_vitpose_backbone_written_here_starts_the_other_family(tmp_path: Path, stem: str) -> None:
    src = build_model("smplerx_s32", **TINY, stem=stem)
    with torch.no_grad():  # non-default buffers too (the conv stem's BatchNorm statistics)
        for name, buf in src.encoder.named_buffers():
            if buf.is_floating_point():
                buf.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(len(name)))
    dst = build_model("smplestx_s", **TINY, stem=stem)
    tokens = dst.encoder.task_tokens.detach().clone()
    path = tmp_path / "pretrained_backbone.pth"
    n = save_vitpose_backbone(src, path, meta={"stage": "2d keypoints"})
    raw = torch.load(path, weights_only=True)
    assert raw["meta"] == {"stage": "2d keypoints"} and len(raw["state_dict"]) == n
    assert all(k.startswith("backbone.") for k in raw["state_dict"])
    report = load_vitpose_backbone(dst, path)
    assert report["loaded"] == n and report["ignored"] == []
    want = {k: v for k, v in src.encoder.state_dict().items() if k != "task_tokens"}
    got = dst.encoder.state_dict()
    assert set(want) == set(got) - {"task_tokens"}
    for k, v in want.items():
        torch.testing.assert_close(got[k], v, msg=k)
    torch.testing.assert_close(dst.encoder.task_tokens, tokens)  # 31 vs 80 tokens: kept
