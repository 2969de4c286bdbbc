"""The closed-form RoIAlign against a literal loop over RoIs, bins and samples (float64).

The loop follows the published mmcv / Detectron CPU algorithm step by step (avg pooling,
``aligned`` flag, adaptive sampling grid, bilinear read with the Caffe2 boundary rules), so any
boundary or sampling mistake in the vectorised version shows up as a mismatch.
"""

from __future__ import annotations

import pytest
import torch
from modeling_reference import roi_align_loop

from ehps.modeling.roi_align import roi_align


def _rois() -> torch.Tensor:
    # (batch_index, x1, y1, x2, y2) on a 12 x 9 map: inside, partly outside on every side,
    # fully outside, thinner than one pixel, inverted, exactly on the border, huge.
    return torch.tensor(
        [
            [0, 1.3, 2.1, 6.8, 9.7],
            [1, -3.5, -2.2, 4.1, 3.3],
            [0, 5.0, 7.5, 14.0, 16.0],
            [1, -20.0, -20.0, -15.0, -12.0],
            [0, 3.2, 4.4, 3.4, 4.5],
            [1, 6.0, 6.0, 2.0, 1.0],
            [0, 0.0, 0.0, 9.0, 12.0],
            [1, -40.0, -35.0, 52.0, 61.0],
            [0, 8.0, 11.0, 9.0, 12.0],
        ],
        dtype=torch.float64,
    )


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [0, 2])
def test_roi_align_matches_loop(aligned: bool, sampling_ratio: int) -> None:
    g = torch.Generator().manual_seed(0)
    feat = torch.randn(2, 3, 12, 9, generator=g, dtype=torch.float64)
    rois = _rois()
    if aligned:  # aligned=True rejects negative sizes in mmcv; keep the well-formed ones
        rois = rois[(rois[:, 3] >= rois[:, 1]) & (rois[:, 4] >= rois[:, 2])]
    ref = roi_align_loop(feat, rois, (4, 3), 1.0, sampling_ratio, aligned)
    got = roi_align(feat, rois, (4, 3), 1.0, sampling_ratio, aligned)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, ref, atol=1e-9, rtol=1e-9)


def test_roi_align_spatial_scale_and_smplerx_shape() -> None:
    """The SMPLer-X setting: 64x48 map, 16x16 output, scale 1, adaptive sampling, float32."""
    g = torch.Generator().manual_seed(1)
    feat = torch.randn(2, 4, 64, 48, generator=g)
    rois = torch.tensor([[0, 10.2, 20.7, 30.9, 41.4], [1, -8.0, 50.0, 20.0, 75.0]])
    got = roi_align(feat, rois, (16, 16))
    ref = roi_align_loop(feat.double(), rois.double(), (16, 16))
    torch.testing.assert_close(got, ref.float(), atol=2e-5, rtol=1e-5)
    half = roi_align(feat, rois * torch.tensor([1, 2, 2, 2, 2.0]), (16, 16), spatial_scale=0.5)
    torch.testing.assert_close(half, got, atol=1e-5, rtol=1e-5)


def test_roi_align_gradient_matches_loop() -> None:
    g = torch.Generator().manual_seed(2)
    feat = torch.randn(2, 2, 10, 8, generator=g, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0, 1.5, 0.5, 6.0, 7.2], [1, -2.0, 3.0, 9.5, 11.0]], dtype=torch.float64)
    weight = torch.randn(2, 2, 3, 3, generator=g, dtype=torch.float64)
    (roi_align(feat, rois, (3, 3)) * weight).sum().backward()
    grad = feat.grad.clone()
    feat.grad = None
    (roi_align_loop(feat, rois, (3, 3)) * weight).sum().backward()
    torch.testing.assert_close(grad, feat.grad, atol=1e-10, rtol=1e-10)


def test_roi_align_rejects_bad_rois() -> None:
    with pytest.raises(ValueError, match="N, 5"):
        roi_align(torch.zeros(1, 1, 4, 4), torch.zeros(3, 4), (2, 2))
