"""``--compile``: the static-batch wrapper pads and cuts exactly (checked against the eager
network with the compiler swapped for the model itself), falls back to eager mode when the
compiler fails, and a really compiled tiny network gives the eager predictor's people."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from ehps.inference.compiled import StaticBatchNetwork
from ehps.structures import SMPLX_PARAM_KEYS

BOXES = np.array([[16, 72, 178, 408], [427, 49, 212, 350], [600, 400, 80, 80]], np.float32)


@pytest.fixture(scope="module")
def photo(assets_dir):
    from ehps.io.image import load_image

    return load_image(assets_dir / "basketball1.png")


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand((n, 3, 512, 384), generator=torch.Generator().manual_seed(seed))


def test_padding_keeps_the_real_rows(tiny_predictor):
    model = tiny_predictor().estimator.model
    net = StaticBatchNetwork(model, batch_size=5)
    seen: list[int] = []

    def eager_spy(x: torch.Tensor):
        seen.append(int(x.shape[0]))
        return model(x)

    net._compiled = eager_spy  # the compiler's job is speed; padding and cutting are ours
    x = _images(3)
    with torch.inference_mode():
        got = net(x)
        ref = model(x)
    assert seen == [5]  # padded to the one compiled shape
    for name in ("global_orient", "body_pose", "left_hand_pose", "betas", "expression",
                 "cam_trans", "cam_param", "pose_6d"):
        a, b = getattr(got, name), getattr(ref, name)
        assert a.shape == b.shape and a.shape[0] == 3, name
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    with torch.inference_mode():
        full = net(_images(5, seed=1))
    assert seen == [5, 5] and full.body_pose.shape[0] == 5
    with pytest.raises(ValueError, match="compiled for batches of 5"):
        net(_images(6))


def test_compiler_failure_falls_back_to_eager(tiny_predictor, caplog):
    model = tiny_predictor().estimator.model
    net = StaticBatchNetwork(model, batch_size=4)

    def broken(x: torch.Tensor):
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nmore text")

    net._compiled = broken
    x = _images(2)
    with caplog.at_level(logging.WARNING), torch.inference_mode():
        got = net(x)
        again = net(x)  # stays eager, no second warning
        ref = model(x)
    assert net.failed == "RuntimeError: InvalidCxxCompiler: No working C++ compiler found"
    assert sum("torch.compile failed" in r.getMessage() for r in caplog.records) == 1
    torch.testing.assert_close(got.body_pose, ref.body_pose)
    torch.testing.assert_close(again.cam_trans, ref.cam_trans)


def test_compiled_predictor_matches_eager(tiny_predictor, photo):
    torch._dynamo.reset()
    eager = tiny_predictor(batch_size=4)
    compiled = tiny_predictor(batch_size=4, compile=True)
    assert isinstance(compiled.estimator.network, StaticBatchNetwork)
    ra = eager(photo, BOXES)
    rb = compiled(photo, BOXES)  # 3 crops: padded to 4
    assert compiled.estimator.network.failed is None
    assert len(ra.people) == len(rb.people) == 3
    for pa, pb in zip(ra.people, rb.people):
        for key in SMPLX_PARAM_KEYS:
            np.testing.assert_allclose(pb.params[key], pa.params[key], atol=1e-4, rtol=1e-4,
                                       err_msg=key)
