"""From-scratch initialisations of :mod:`ehps.training.head_init`.

References: scipy's ``Rotation.mean`` (the same chordal L2 mean) for :func:`chordal_mean`; the
mean parameters themselves for the initialised heads (with zero weight scale every input must give
exactly the mean); a convolution on explicitly normalised images for the folded stem; numpy
statistics for the image statistics.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation
from traintest_helpers import TINY

from ehps.geometry.rotations import aa_to_rotmat
from ehps.modeling import build_model
from ehps.training.head_init import (
    MeanParams,
    chordal_mean,
    fold_input_normalisation,
    image_stats_from_dataset,
    init_heads_to_mean,
)


def test_chordal_mean_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    rots = Rotation.from_rotvec(rng.normal(scale=0.6, size=(50, 3)))
    w = rng.uniform(0.1, 1.0, 50)
    ours = chordal_mean(torch.tensor(rots.as_matrix()), torch.tensor(w)).numpy()
    ref = rots.mean(weights=w).as_matrix()
    np.testing.assert_allclose(ours, ref, atol=1e-9)


@pytest.mark.parametrize("family,variant", [("smplerx", "smplerx_s32"),
                                            ("smplestx", "smplestx_s")])
def test_heads_start_at_the_mean_parameters(family, variant) -> None:
    rng = np.random.default_rng(1)
    pose = torch.tensor(rng.normal(scale=0.4, size=(53, 3)), dtype=torch.float32)
    rot = aa_to_rotmat(pose)
    mean = MeanParams(pose_rotmat=rot, wrist_global_rotmat=rot[[20, 21]],
                      betas=torch.linspace(-1, 1, 10), expression=torch.linspace(0.5, -0.5, 10),
                      count=1)
    torch.manual_seed(0)
    net = build_model(variant, **TINY[family]).eval()
    init_heads_to_mean(net, mean, weight_scale=0.0)
    with torch.no_grad():
        pred = net(torch.rand(2, 3, 512, 384))
    torch.testing.assert_close(pred.betas, mean.betas.expand(2, 10), atol=1e-6, rtol=0)
    torch.testing.assert_close(pred.expression, mean.expression.expand(2, 10), atol=1e-6, rtol=0)
    got = pred.pose_rotmat
    body = slice(0, 22)
    torch.testing.assert_close(got[:, body], rot[body].expand(2, -1, -1, -1), atol=1e-5, rtol=0)
    # SMPLer-X regresses one hand and mirrors it; the right hand gets the mean
    torch.testing.assert_close(got[:, 37:52], rot[37:52].expand(2, -1, -1, -1), atol=1e-5, rtol=0)
    torch.testing.assert_close(got[:, 52], rot[52].expand(2, -1, -1), atol=1e-5, rtol=0)
    if family == "smplestx":
        torch.testing.assert_close(got[:, 22:37], rot[22:37].expand(2, -1, -1, -1), atol=1e-5,
                                   rtol=0)


@pytest.mark.parametrize("stem,stride,padding", [("patch", 16, 2), ("conv", 2, 1)])
def test_folded_stem_equals_normalised_input(stem: str, stride: int, padding: int) -> None:
    torch.manual_seed(0)
    net = build_model("smplestx_s", **TINY["smplestx"], stem=stem)
    conv = net.encoder.patch_embed.input_conv
    assert conv.stride == (stride, stride) and conv.in_channels == 3
    w0, b0 = conv.weight.detach().clone(), conv.bias.detach().clone()
    mean, std = torch.tensor([0.5, 0.4, 0.3]), torch.tensor([0.2, 0.25, 0.3])
    fold_input_normalisation(net, mean, std)
    x = torch.rand(2, 3, 256, 192)
    got = conv(x)
    ref = F.conv2d((x - mean[None, :, None, None]) / std[None, :, None, None], w0, b0,
                   stride=stride, padding=padding)
    # identical away from the zero-padded border (padding is zero in raw, not normalised, units)
    torch.testing.assert_close(got[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], atol=1e-4, rtol=1e-4)


def test_image_stats_match_numpy(synth_root, synthetic_smplx_dir) -> None:
    from traintest_helpers import tiny_config

    from ehps.training.datamodule import EHPSDataModule

    cfg = tiny_config("smplestx", synth_root, synthetic_smplx_dir)
    data = EHPSDataModule(cfg)
    data.setup("fit")
    mean, std = image_stats_from_dataset(data.train_set, max_items=100)
    imgs = np.stack([np.asarray(data.train_set[i].image, np.float64) / 255.0
                     for i in range(len(data.train_set))])
    np.testing.assert_allclose(mean.numpy(), imgs.mean(axis=(0, 2, 3)), atol=1e-5)
    np.testing.assert_allclose(std.numpy(), imgs.std(axis=(0, 2, 3)), atol=1e-5)
