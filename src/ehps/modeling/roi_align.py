"""RoIAlign (average pooling) in pure PyTorch, equal to mmcv's / Detectron's CPU kernel.

The official SMPLer-X crops hand features with ``mmcv.ops.roi_align(feat, rois, (16, 16), 1.0, 0,
'avg', False)``; torchvision is not usable here, so this module computes the same numbers.

The published algorithm, per RoI and output bin: with ``aligned=False`` the RoI is
``[x1, x2] x [y1, y2]`` times ``spatial_scale`` and at least 1 wide/high; each of the
``P_h x P_w`` bins is sampled on a regular ``g_h x g_w`` grid (``g = ceil(bin size)`` when
``sampling_ratio <= 0``), sample ``k`` of bin ``p`` sitting at ``start + p * bin + (k + 0.5) *
bin / g``; each sample is a bilinear read with the Caffe2/Detectron boundary rules (a sample
beyond ``[-1, size]`` reads 0; coordinates in ``[-1, 0]`` clamp to 0; beyond ``size - 1`` they
clamp to the last row/column); the bin value is the mean of its samples.

How it is computed here: bilinear interpolation and its boundary rules are separable (a product
of a row weight and a column weight, zero when either coordinate is out of range), so a bin's
mean is ``sum_ij A[p, i] F[i, j] B[q, j]`` where ``A`` (``P_h x H``) holds the mean row weights
of the bin's sample rows and ``B`` (``P_w x W``) the column ones. The samples of a bin form an
arithmetic progression, so the sum of the piecewise-linear "hat" weights over the samples that
fall between two neighbouring rows has a closed form (count and sum of an arithmetic progression
restricted to an interval). That makes the number of operations independent of the RoI size
(no per-RoI loops, no data-dependent shapes): it runs batched, under autograd (gradients flow to
the features), in bf16 autocast and in ONNX. ``tests/modeling/test_roi_align.py`` checks it
against a literal loop over RoIs, bins and samples.
"""

from __future__ import annotations

import torch

__all__ = ["roi_align", "roi_axis_weights"]


def _count_and_offset_sum(
    first: torch.Tensor,
    step: torch.Tensor,
    n_samples: torch.Tensor,
    lo: torch.Tensor | float,
    hi: torch.Tensor | float,
    closed_hi: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """For samples ``first + k * step`` (``k = 0..n_samples-1``) inside ``[lo, hi)`` (or
    ``[lo, hi]``): how many there are and the sum of ``(sample - lo)``."""
    k_min = torch.clamp(torch.ceil((lo - first) / step), min=0.0)
    if closed_hi:
        k_max = torch.floor((hi - first) / step)
    else:
        k_max = torch.ceil((hi - first) / step) - 1.0
    k_max = torch.minimum(k_max, n_samples - 1.0)
    count = torch.clamp(k_max - k_min + 1.0, min=0.0)
    offset_sum = count * (first - lo) + step * count * (k_min + k_max) * 0.5
    return count, offset_sum


def roi_axis_weights(
    start: torch.Tensor,
    length: torch.Tensor,
    pooled: int,
    size: int,
    sampling_ratio: int = 0,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Mean bilinear weights of each bin's samples along one axis.

    Args:
        start: (N,) RoI start coordinate on this axis (feature-map pixel units).
        length: (N,) RoI length on this axis (already clamped as the caller wants).
        pooled: number of output bins on this axis.
        size: feature-map size on this axis.
        sampling_ratio: samples per bin on this axis; ``<= 0`` = adaptive ``ceil(length / pooled)``.
        dtype: computation dtype (float32, or float64 for float64 features).

    Returns:
        (N, pooled, size) in ``dtype``: entry (n, p, i) = mean over bin p's samples of their
        weight on feature row (or column) i.
    """
    start = start.to(dtype)
    bin_size = length.to(dtype) / pooled  # (N,)
    if sampling_ratio > 0:
        n_samples = torch.full_like(bin_size, float(sampling_ratio))
    else:
        n_samples = torch.ceil(bin_size)
    step = bin_size / n_samples
    p = torch.arange(pooled, device=start.device, dtype=dtype)
    first = start[:, None] + p[None, :] * bin_size[:, None] + 0.5 * step[:, None]  # (N, P)
    first, step, n_samples = first[..., None], step[:, None, None], n_samples[:, None, None]

    rows = torch.arange(size - 1, device=start.device, dtype=dtype)  # interior cells
    count, rel = _count_and_offset_sum(first, step, n_samples, rows, rows + 1.0, closed_hi=False)
    zero = torch.zeros_like(first)
    # a sample at row + t (0 <= t < 1) gives 1 - t to `row` and t to `row + 1`
    weights = torch.cat((count - rel, zero), dim=-1) + torch.cat((zero, rel), dim=-1)
    # [-1, 0): clamped to row 0; [size - 1, size]: clamped to the last row; outside: zero
    below, _ = _count_and_offset_sum(first, step, n_samples, -1.0, 0.0, closed_hi=False)
    above, _ = _count_and_offset_sum(
        first, step, n_samples, float(size - 1), float(size), closed_hi=True
    )
    edge = torch.arange(size, device=start.device)
    weights = weights + below * (edge == 0) + above * (edge == size - 1)
    return weights / n_samples


def roi_align(
    feat: torch.Tensor,
    rois: torch.Tensor,
    output_size: tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = 0,
    aligned: bool = False,
) -> torch.Tensor:
    """Average-pooled RoIAlign, numerically equal to ``mmcv.ops.roi_align(..., 'avg', aligned)``.

    Args:
        feat: (B, C, H, W) feature map.
        rois: (N, 5) rows ``(batch_index, x1, y1, x2, y2)`` in input-image units (multiplied by
            ``spatial_scale`` to reach feature pixels, whose centres sit at integer coordinates).
        output_size: (P_h, P_w) bins per RoI.
        spatial_scale: input-image units -> feature pixels.
        sampling_ratio: samples per bin and axis; ``<= 0`` = adaptive (``ceil(bin size)``).
        aligned: ``False`` (the official SMPLer-X setting): no half-pixel shift and RoIs at least
            1x1; ``True``: shift by -0.5 and keep the size as given.

    Returns:
        (N, C, P_h, P_w) pooled features in ``feat``'s dtype.
    """
    if rois.ndim != 2 or rois.shape[1] != 5:
        raise ValueError(
            f"rois must be (N, 5) [batch_index, x1, y1, x2, y2], got {tuple(rois.shape)}"
        )
    h, w = feat.shape[-2:]
    dtype = torch.float64 if feat.dtype == torch.float64 else torch.float32
    boxes = rois[:, 1:].to(dtype) * spatial_scale
    if aligned:
        boxes = boxes - 0.5
    x1, y1, x2, y2 = boxes.unbind(1)
    width, height = x2 - x1, y2 - y1
    if not aligned:
        width, height = torch.clamp(width, min=1.0), torch.clamp(height, min=1.0)
    wy = roi_axis_weights(y1, height, output_size[0], h, sampling_ratio, dtype).to(feat.dtype)
    wx = roi_axis_weights(x1, width, output_size[1], w, sampling_ratio, dtype).to(feat.dtype)
    per_roi = feat.index_select(0, rois[:, 0].long())  # (N, C, H, W)
    return torch.matmul(torch.matmul(wy[:, None], per_roi), wx[:, None].transpose(-1, -2))
