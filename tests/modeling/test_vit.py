"""ViT encoder quirks: padding-2 patch grid, position slot 0 added to every patch (and not to the
task tokens), stochastic depth statistics."""

from __future__ import annotations

import torch

from ehps.modeling.backbones.vit import DropPath, ViT


def _vit(tokens: int = 5) -> ViT:
    torch.manual_seed(0)
    vit = ViT(embed_dim=32, depth=2, num_heads=4, mlp_hidden=64, num_task_tokens=tokens).eval()
    vit.init_weights()
    return vit


def test_patch_grid_is_16_by_12() -> None:
    feat, tokens = _vit()(torch.rand(2, 3, 256, 192))
    assert feat.shape == (2, 32, 16, 12) and tokens.shape == (2, 5, 32)
    # padding 2 -> the first patch sees a 2-pixel border of zeros: a bright pixel at (0, 0)
    # changes only patch (0, 0) before attention; check on the patch projection directly
    img = torch.zeros(1, 3, 256, 192)
    img[0, :, 0, 0] = 1.0
    proj = _vit().patch_embed.proj
    diff = (proj(img) - proj(torch.zeros_like(img))).abs().sum(1)[0]
    assert diff[0, 0] > 0 and diff.sum() == diff[0, 0]
    assert proj.padding == (2, 2)


def test_position_slot_zero_acts_like_a_patch_bias() -> None:
    vit_a, vit_b = _vit(), _vit()
    v = torch.randn(32)
    with torch.no_grad():
        vit_a.pos_embed[0, 0] = v  # slot 0 added to every patch
        vit_b.pos_embed[0, 0] = 0.0
        vit_b.patch_embed.proj.bias += v  # the same shift applied as a patch bias
    img = torch.rand(1, 3, 256, 192)
    with torch.no_grad():
        fa, ta = vit_a(img)
        fb, tb = vit_b(img)
    torch.testing.assert_close(fa, fb, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ta, tb, atol=1e-5, rtol=1e-5)


def test_task_tokens_get_no_position_embedding() -> None:
    vit = _vit()
    vit.blocks = torch.nn.ModuleList()  # no mixing: tokens only see the final LayerNorm
    img = torch.rand(1, 3, 256, 192)
    with torch.no_grad():
        _, before = vit(img)
        vit.pos_embed.add_(torch.randn_like(vit.pos_embed))
        _, after = vit(img)
    torch.testing.assert_close(before, after)


def test_drop_path_statistics() -> None:
    torch.manual_seed(0)
    layer = DropPath(0.3).train()
    out = layer(torch.ones(20000, 4))
    kept = out[:, 0] != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.02
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / 0.7))
    assert (out == out[:, :1]).all()  # whole samples dropped
    assert torch.equal(layer.eval()(torch.ones(3, 4)), torch.ones(3, 4))
