"""The model zoo: every variant builds, parameter counts equal the official ones, tiny copies of
each architecture run forward and backward, state dicts round-trip, configs validate."""

from __future__ import annotations

import pytest
import torch

from ehps.errors import InputError
from ehps.modeling import ModelConfig, Prediction, build_model, get_config, list_models
from modeling_tiny import TINY

#: Published / spec totals in millions (official-spec a.1, b.4; README of the official repos).
OFFICIAL_PARAMS_M = {
    "smplerx_s32": 32.0,
    "smplerx_b32": 102.9,
    "smplerx_l32": 326.7,
    "smplerx_h32": 661.8,
    "smplestx_h": 687.2,
}

#: Parameters that the official forward computes nothing useful from (kept for strict loading):
#: the decoder's dead token embedding, and heads whose outputs the official code never uses.
DEAD_PARAMS = (
    "decoder.transformer.to_token_embedding.",
    "decoder.dec_hand_cam.",
    "decoder.dec_face_root_pose.",
    "decoder.dec_face_cam.",
)


def test_registry_lists_all_eight_variants() -> None:
    assert list_models() == [
        "smplerx_b32",
        "smplerx_h32",
        "smplerx_l32",
        "smplerx_s32",
        "smplestx_b",
        "smplestx_h",
        "smplestx_l",
        "smplestx_s",
    ]
    assert list_models("smplestx_*") == ["smplestx_b", "smplestx_h", "smplestx_l", "smplestx_s"]


@pytest.mark.parametrize("variant", sorted(OFFICIAL_PARAMS_M))
def test_parameter_counts_equal_official(variant: str) -> None:
    model = build_model(variant, device="meta")  # no memory, no init
    count = sum(p.numel() for p in model.parameters())
    assert round(count / 1e6, 1) == OFFICIAL_PARAMS_M[variant]


@pytest.mark.parametrize("variant", list_models())
def test_every_variant_builds_with_its_config(variant: str) -> None:
    model = build_model(variant, device="meta")
    cfg = model.config
    assert cfg.name == variant
    assert cfg.num_task_tokens == (31 if variant.startswith("smplerx") else 80)
    size = variant.split("_")[1][0]
    assert (cfg.embed_dim, cfg.depth, cfg.num_heads) == {
        "s": (384, 12, 12),
        "b": (768, 12, 12),
        "l": (1024, 24, 16),
        "h": (1280, 32, 16),
    }[size]
    assert cfg.drop_path_rate == {"s": 0.1, "b": 0.3, "l": 0.5, "h": 0.55}[size]


def _loss(pred: Prediction) -> torch.Tensor:
    return sum(v.float().square().mean() for v in pred.to_dict().values())


@pytest.mark.parametrize("variant", list_models())
def test_tiny_copy_forward_backward(variant: str) -> None:
    torch.manual_seed(0)
    model = build_model(variant, **TINY, drop_path_rate=0.0)  # no randomly dropped branches
    model.train()
    images = torch.rand(2, 3, 512, 384)
    pred = model(images)
    assert isinstance(pred, Prediction)
    shapes = {
        "global_orient": (2, 3),
        "body_pose": (2, 21, 3),
        "left_hand_pose": (2, 15, 3),
        "right_hand_pose": (2, 15, 3),
        "jaw_pose": (2, 3),
        "betas": (2, 10),
        "expression": (2, 10),
        "cam_trans": (2, 3),
        "body_pose_rotmat": (2, 21, 3, 3),
        "pose_6d": (2, 53, 6),
    }
    if variant.startswith("smplerx"):
        shapes.update(
            {
                "lhand_bbox": (2, 4),
                "rhand_bbox": (2, 4),
                "face_bbox": (2, 4),
                "body_joint_img": (2, 25, 3),
                "hand_joint_img": (2, 40, 3),
            }
        )
        assert pred.hand_root_rotmat is None
    else:
        shapes.update({"hand_root_rotmat": (2, 2, 3, 3)})
        assert pred.lhand_bbox is None
    for name, shape in shapes.items():
        value = getattr(pred, name)
        assert tuple(value.shape) == shape, name
        assert value.dtype == torch.float32 and torch.isfinite(value).all(), name
    _loss(pred).backward()
    no_grad = [
        n
        for n, p in model.named_parameters()
        if (p.grad is None or not p.grad.abs().sum() > 0) and not n.startswith(DEAD_PARAMS)
    ]
    assert no_grad == []  # every live parameter is wired into some output


def test_state_dict_round_trip() -> None:
    for variant in ("smplerx_s32", "smplestx_s"):
        torch.manual_seed(0)
        a = build_model(variant, **TINY).eval()
        torch.manual_seed(1)
        b = build_model(variant, **TINY).eval()
        images = torch.rand(1, 3, 512, 384)
        with torch.no_grad():
            assert not torch.allclose(a(images).betas, b(images).betas)
            b.load_state_dict(a.state_dict(), strict=True)
            out_a, out_b = a(images).to_dict(), b(images).to_dict()
        assert out_a.keys() == out_b.keys()
        for k, v in out_a.items():
            assert torch.equal(v, out_b[k]), k


def test_official_head_initialisation() -> None:
    torch.manual_seed(0)
    model = build_model("smplerx_s32", **TINY)
    w = model.body_regressor.body_pose_out[0].weight
    assert (
        abs(w.std().item() - 0.01) < 1e-3
        and model.body_regressor.body_pose_out[0].bias.abs().max() == 0
    )
    conv = model.box_net.deconv[0].weight
    assert abs(conv.std().item() - 0.001) < 1e-4
    bn = model.box_net.deconv[1]
    assert torch.equal(bn.weight, torch.ones_like(bn.weight)) and bn.bias.abs().max() == 0
    qkv = model.encoder.blocks[0].attn.qkv.weight
    assert (
        abs(qkv.std().item() - 0.02) < 2e-3
        and model.encoder.blocks[0].attn.qkv.bias.abs().max() == 0
    )


def test_overrides_and_bad_names() -> None:
    cfg = get_config("smplerx-H32", drop_path_rate=0.0)
    assert cfg.name == "smplerx_h32" and cfg.drop_path_rate == 0.0
    assert get_config("smplestx_h40").name == "smplestx_h"
    assert get_config("smplerx_l20").name == "smplerx_l32"
    with pytest.raises(InputError, match="unknown model variant"):
        get_config("smplerx_x32")
    with pytest.raises(InputError, match="unknown model option"):
        build_model("smplerx_s32", width=3)
    with pytest.raises(InputError, match="divisible"):
        ModelConfig("smplerx", embed_dim=66, depth=1, num_heads=4)
    cfg = get_config("smplestx_s", **TINY)
    assert ModelConfig.from_json(cfg.to_json()) == cfg


def test_bad_images_raise_input_errors() -> None:
    model = build_model("smplestx_s", **TINY).eval()
    with pytest.raises(InputError, match="512, 384"):
        model(torch.rand(1, 3, 256, 192))
    with pytest.raises(InputError, match="divide uint8"):
        model(torch.zeros(1, 3, 512, 384, dtype=torch.uint8))


@pytest.mark.parametrize("variant", ["smplerx_s32", "smplestx_s"])
def test_bf16_autocast_forward_returns_float32(variant: str) -> None:
    torch.manual_seed(0)
    model = build_model(variant, **TINY).eval()
    images = torch.rand(2, 3, 512, 384)
    with torch.no_grad():
        ref = model(images)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(images)
    for name in ("global_orient", "body_pose", "betas", "cam_trans", "right_hand_pose"):
        got = getattr(low, name)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, getattr(ref, name), atol=0.05, rtol=0.05)


@pytest.mark.parametrize("variant", ["smplerx_s32", "smplestx_s"])
def test_encoder_neck_head_partition_covers_every_parameter_once(variant: str) -> None:
    model = build_model(variant, device="meta")
    groups = [model.encoder, *model.neck_modules(), *model.head_modules()]
    ids = [id(p) for g in groups for p in g.parameters()]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters()}


@pytest.mark.parametrize("variant", ["smplerx_s32", "smplestx_s"])
def test_conv_stem_keeps_the_token_grid_and_is_selectable(variant: str) -> None:
    from ehps.modeling.backbones.vit import PATCH_GRID_HW, STEM_CHANNELS, ConvStem

    torch.manual_seed(0)
    model = build_model(variant, **TINY, stem="conv").eval()
    stem = model.encoder.patch_embed
    assert isinstance(stem, ConvStem)
    tokens, hp, wp = stem(torch.rand(2, 3, 256, 192))
    assert (hp, wp) == PATCH_GRID_HW and tokens.shape == (2, hp * wp, TINY["embed_dim"])
    # reference: the same layers applied one by one, then flattened row-major
    x = torch.rand(1, 3, 256, 192)
    ref = x
    for layer in stem.convs:
        ref = layer(ref)
    ref = stem.proj(ref)
    torch.testing.assert_close(stem(x)[0], ref.flatten(2).transpose(1, 2))
    assert [m.out_channels for m in stem.convs if isinstance(m, torch.nn.Conv2d)] == list(
        STEM_CHANNELS)
    assert not any(k.startswith("encoder.patch_embed.proj.weight") and v.shape[-1] == 16
                   for k, v in model.state_dict().items())
    with torch.no_grad():
        out = model(torch.rand(1, 3, 512, 384))
    assert torch.isfinite(out.body_pose).all()
    with pytest.raises(InputError, match="stem must be"):
        get_config(variant, stem="hybrid")
