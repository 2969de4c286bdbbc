"""Kernels of the pure-torch rasteriser (see :mod:`ehps.render.rasterizer` for conventions).

How it is fast without a custom kernel:
- every triangle's pixel box is computed at once, and the z-buffer covers only the region of
  interest (the union of the boxes), so its size follows the people, not the frame;
- the three barycentric coordinates divided by depth, ``l_i / z_i``, are affine in the pixel
  position; their per-face coefficients are computed once in float64. They are all >= 0 exactly
  inside the triangle and sum to 1/z;
- small triangles (box sides <= 4 pixels, most of a body mesh's) are grouped by power-of-two box
  size and each group is evaluated on a dense (n_faces, box cells) grid by one small matmul;
  larger triangles are scanned row by row with the exact span of pixel centres inside them, so no
  candidate is wasted;
- candidates are folded into the z-buffer by ``scatter_reduce(amax)`` on int64 keys packing the
  float32 bits of 1/z (monotonic for positive floats: nearer wins) over the inverted face position
  (equal depths: the lower face wins), so depth test and tie-break are one pass;
- barycentrics and depth are then recomputed exactly (float64) for the winning face only.
Work is chunked to ~10^5 candidates: small temporaries stay in cache, and the allocator reuses
them (fresh multi-megabyte tensors cost page faults that dominated on a VM).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ehps.errors import InputError

__all__ = ["PreparedFaces", "prepare_faces", "scan_torch", "resolve"]

_CHUNK_CANDIDATES = 1 << 17
_FACE_BITS = 31
_FACE_MASK = (1 << _FACE_BITS) - 1
#: Faces whose pixel box has a side longer than this are scanned row by row, smaller ones as
#: box grids (measured on body meshes: 4 beat 8 and a sqrt(2)-class scheme by 0-15%).
_GRID_MAX_SIDE = 4


def face_planes(tri: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 3, 3) float64 screen triangles (x_px, y_px, z) -> per-face affine maps.

    Returns ``coef`` (n, 3, 3) and the signed doubled screen area (n,). Row i of ``coef`` holds
    (a, b, c) with ``a * x + b * y + c = l_i / z_i`` at pixel (x, y), ``l_i`` the screen-space
    barycentric coordinate of vertex i and ``z_i`` its depth.
    """
    x, y = tri[..., 0], tri[..., 1]
    j, k = [1, 2, 0], [2, 0, 1]
    xj, yj, xk, yk = x[:, j], y[:, j], x[:, k], y[:, k]
    area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0])
    # edge function of vertex i: zero on the opposite edge (j, k), equal to the area at vertex i.
    scale = 1.0 / (area[:, None] * tri[..., 2])
    coef = torch.stack(((yj - yk) * scale, (xk - xj) * scale, (xj * yk - xk * yj) * scale), -1)
    return coef, area


@dataclass
class PreparedFaces:
    """Triangles that survived culling, with their pixel maps (shared by all back-ends).

    Attributes:
        sel: (n,) int64 flat indices ``b * F + f`` of the kept triangles, ascending.
        coef: (n, 3, 3) float64 maps of :func:`face_planes`.
        box: (n, 4) int64 pixel boxes (x0, y0, width, height), clipped to the image.
        roi: (x0, y0, width, height) union of the boxes (empty: width 0).
        batch: B; n_faces: F; image_hw: (H, W).
    """

    sel: torch.Tensor
    coef: torch.Tensor
    box: torch.Tensor
    roi: tuple[int, int, int, int]
    batch: int
    n_faces: int
    image_hw: tuple[int, int]


def prepare_faces(
    screen: torch.Tensor,
    faces: torch.Tensor,
    image_hw: tuple[int, int],
    cull_backfaces: bool,
    near: float,
) -> PreparedFaces:
    """Drop triangles behind ``near``, non-finite, degenerate, outside the image or (optionally)
    back-facing; precompute the pixel maps of the rest. ``screen`` is (B, N, 3)."""
    bsz, n_pts, _ = screen.shape
    h, w = image_hw
    device = screen.device
    n_faces = faces.shape[0]
    if bsz * n_faces >= 1 << _FACE_BITS:
        raise InputError("too many triangles for one rasterisation call; split the batch")
    flat = (faces.view(1, -1) + n_pts * torch.arange(bsz, device=device)[:, None]).view(-1)
    # boxes and culling in the input precision; the pixel maps of kept faces in float64.
    tri = screen.reshape(-1, 3).index_select(0, flat).view(-1, 3, 3)  # (B*F, 3, xyz)
    xs, ys = tri[..., 0], tri[..., 1]
    keep = torch.isfinite(tri).all(dim=(1, 2)) & (tri[..., 2] > near).all(dim=1)
    xmin = torch.ceil(xs.amin(dim=1)).clamp(min=0)
    xmax = torch.floor(xs.amax(dim=1)).clamp(max=w - 1)
    ymin = torch.ceil(ys.amin(dim=1)).clamp(min=0)
    ymax = torch.floor(ys.amax(dim=1)).clamp(max=h - 1)
    keep &= (xmax >= xmin) & (ymax >= ymin)
    sel = torch.nonzero(keep).squeeze(1)
    coef, area = face_planes(tri.index_select(0, sel).double())
    good = torch.isfinite(coef).all(dim=(1, 2)) & (area != 0)
    if cull_backfaces:
        # outward CCW winding in the right-handed OpenCV frame projects to a negative area.
        good &= area < 0
    good = torch.nonzero(good).squeeze(1)
    sel, coef = sel.index_select(0, good), coef.index_select(0, good)
    x0, y0 = xmin.index_select(0, sel).long(), ymin.index_select(0, sel).long()
    x1, y1 = xmax.index_select(0, sel).long(), ymax.index_select(0, sel).long()
    box = torch.stack((x0, y0, x1 - x0 + 1, y1 - y0 + 1), dim=1)
    if sel.numel():
        rx0, ry0 = int(x0.min()), int(y0.min())
        roi = (rx0, ry0, int(x1.max()) - rx0 + 1, int(y1.max()) - ry0 + 1)
    else:
        roi = (0, 0, 0, 0)
    return PreparedFaces(sel, coef, box, roi, bsz, n_faces, (h, w))


def scan_torch(prep: PreparedFaces) -> tuple[torch.Tensor, torch.Tensor]:
    """Visibility by z-buffer: (pix, pos) = the covered flat pixels of the (B, H, W) images,
    ascending, and the position in ``prep.sel`` of the triangle visible there."""
    device = prep.coef.device
    rx0, ry0, rw, rh = prep.roi
    if rw == 0:
        empty = torch.zeros(0, dtype=torch.int64, device=device)
        return empty, empty
    x0, y0, bw, bh = prep.box.unbind(1)
    batch = torch.div(prep.sel, prep.n_faces, rounding_mode="floor")
    keybuf = torch.full((prep.batch * rh * rw,), -1, dtype=torch.int64, device=device)
    area = bw * bh
    grid_ok = torch.maximum(bw, bh) <= _GRID_MAX_SIDE
    big = torch.nonzero(~grid_ok).squeeze(1)
    if big.numel():
        est = torch.div(area.index_select(0, big), 2, rounding_mode="floor") + bh.index_select(
            0, big
        )
        for lo, hi in _chunks_by_cost(est, 4 * _CHUNK_CANDIDATES):
            _scan_spans(keybuf, prep, batch, big[lo:hi])
    small = torch.nonzero(grid_ok).squeeze(1)
    if small.numel():
        # the maps relative to each box corner: candidates then use small offsets in float32.
        shifted = prep.coef.index_select(0, small)
        sx0, sy0 = x0.index_select(0, small), y0.index_select(0, small)
        shifted[..., 2] += shifted[..., 0] * sx0[:, None] + shifted[..., 1] * sy0[:, None]
        corner = batch.index_select(0, small) * (rh * rw) + (sy0 - ry0) * rw + (sx0 - rx0)
        sbw, sbh = bw.index_select(0, small), bh.index_select(0, small)
        lw = torch.ceil(torch.log2(sbw.double()) - 1e-9).long().clamp(min=0)  # 1, 2, 4 -> 0, 1, 2
        lh = torch.ceil(torch.log2(sbh.double()) - 1e-9).long().clamp(min=0)
        sorted_bucket, order = torch.sort(lw * 128 + lh)
        ukeys, counts = torch.unique_consecutive(sorted_bucket, return_counts=True)
        grids = _SmallFaces(shifted.float(), sbw, sbh, corner, small)
        start = 0
        for key, cnt in zip(ukeys.tolist(), counts.tolist()):
            sw, sh = 1 << (key // 128), 1 << (key % 128)
            per_chunk = max(1, _CHUNK_CANDIDATES // (sw * sh))
            for c0 in range(start, start + cnt, per_chunk):
                part = order[c0 : min(c0 + per_chunk, start + cnt)]
                _scan_grid(keybuf, grids, part, sw, sh, rw)
            start += cnt
    roi_pix = torch.nonzero(keybuf >= 0).squeeze(1)
    pos = _FACE_MASK - (keybuf.index_select(0, roi_pix) & _FACE_MASK)
    b = torch.div(roi_pix, rh * rw, rounding_mode="floor")
    rem = roi_pix - b * (rh * rw)
    ry = torch.div(rem, rw, rounding_mode="floor")
    h, w = prep.image_hw
    pix = b * (h * w) + (ry + ry0) * w + (rem - ry * rw + rx0)
    return pix, pos


def resolve(
    prep: PreparedFaces, pix: torch.Tensor, pos: torch.Tensor, out_dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For covered pixels ``pix`` with visible kept-face positions ``pos``: the face index in
    [0, F) (n,), perspective-correct barycentrics (n, 3) and depth (n,) (float64 math)."""
    h, w = prep.image_hw
    face = prep.sel.index_select(0, pos) % prep.n_faces
    cw = prep.coef.index_select(0, pos)
    py_all = torch.div(pix, w, rounding_mode="floor")
    px = (pix - py_all * w).double()
    py = (py_all % h).double()
    wts = cw[..., 0] * px[:, None] + cw[..., 1] * py[:, None] + cw[..., 2]
    invz = wts.sum(dim=1, keepdim=True)
    bary = (wts / invz).to(out_dtype)
    depth = (1.0 / invz.squeeze(1)).to(out_dtype)
    return face, bary, depth


def _scan_spans(
    keybuf: torch.Tensor, prep: PreparedFaces, batch: torch.Tensor, part: torch.Tensor
) -> None:
    """Rasterise the kept faces ``part`` row by row: each (face, row) pair gets the exact span of
    pixel centres inside the triangle."""
    device = keybuf.device
    rx0, ry0, rw, rh = prep.roi
    x0, y0, bw, bh = prep.box.index_select(0, part).unbind(1)
    coef = prep.coef.index_select(0, part)  # (n, 3, 3) float64
    rows = torch.repeat_interleave(torch.arange(part.numel(), device=device), bh)  # row -> face
    first = torch.cumsum(bh, 0) - bh
    y_int = (
        y0.index_select(0, rows)
        + torch.arange(rows.numel(), device=device)
        - first.index_select(0, rows)
    )
    y = y_int.double()
    cr = coef.index_select(0, rows)  # (M, 3 edges, [a, b, c])
    a = cr[..., 0]
    rhs = -(cr[..., 1] * y[:, None] + cr[..., 2])  # inside edge i  <=>  a_i * x >= rhs_i
    bound = rhs / a
    inf = torch.full_like(bound, math.inf)
    lo = torch.where(a > 0, bound, -inf).amax(dim=1)
    hi = torch.where(a < 0, bound, inf).amin(dim=1)
    blocked = ((a == 0) & (rhs > 0)).any(dim=1)
    xb0 = x0.index_select(0, rows).double()
    # a hair of tolerance keeps pixel centres on a shared edge inside both neighbours
    xs = torch.maximum(torch.ceil(lo - 1e-7), xb0)
    xe = torch.minimum(torch.floor(hi + 1e-7), xb0 + bw.index_select(0, rows).double() - 1)
    cnt = (xe - xs + 1).clamp(min=0).long()
    cnt = torch.where(blocked, torch.zeros_like(cnt), cnt)
    total = int(cnt.sum())
    if total == 0:
        return
    # per-row constants gathered once per candidate: along a row 1/z = A x + (B y + C).
    inv = coef.sum(dim=1).index_select(0, rows)
    row_f = torch.stack((inv[:, 0], inv[:, 1] * y + inv[:, 2]), dim=1).float()
    row_i = torch.stack(
        (
            torch.cumsum(cnt, 0) - cnt - xs.long(),  # candidate number minus x at the row start
            batch.index_select(0, part.index_select(0, rows)) * (rh * rw)
            + (y_int - ry0) * rw
            - rx0,
            _FACE_MASK - part.index_select(0, rows),
        ),
        dim=1,
    )
    row_of = torch.repeat_interleave(torch.arange(rows.numel(), device=device), cnt)
    gi = row_i.index_select(0, row_of)
    gf = row_f.index_select(0, row_of)
    px = torch.arange(total, device=device) - gi[:, 0]
    invz = gf[:, 0] * px + gf[:, 1]
    zbits = invz.clamp(min=0).view(torch.int32).to(torch.int64)
    keybuf.scatter_reduce_(0, gi[:, 1] + px, (zbits << _FACE_BITS) | gi[:, 2], reduce="amax")


@dataclass
class _SmallFaces:
    coef32: torch.Tensor  # (m, 3, 3) maps relative to the box corner
    bw: torch.Tensor
    bh: torch.Tensor
    corner: torch.Tensor  # (m,) key-buffer index of the box corner
    kept_pos: torch.Tensor  # (m,) position in prep.sel


def _scan_grid(
    keybuf: torch.Tensor, faces: _SmallFaces, part: torch.Tensor, sw: int, sh: int, rw: int
) -> None:
    """Evaluate small faces ``part`` (indices into ``faces``) on an (sh, sw) candidate grid."""
    device = keybuf.device
    cells = sw * sh
    ox = torch.arange(sw, device=device).repeat(sh)
    oy = torch.arange(sh, device=device).repeat_interleave(sw)
    grid = torch.stack((ox, oy, torch.ones_like(ox))).float()  # (3, cells)
    n = part.numel()
    vals = (faces.coef32.index_select(0, part).view(n * 3, 3) @ grid).view(n, 3, cells)
    inside = vals.amin(dim=1) >= 0
    if cells > 1:
        in_x = ox < faces.bw.index_select(0, part)[:, None]
        inside &= in_x & (oy < faces.bh.index_select(0, part)[:, None])
    zbits = vals.sum(dim=1).view(torch.int32).to(torch.int64)
    code = _FACE_MASK - faces.kept_pos.index_select(0, part)
    keys = torch.where(inside, (zbits << _FACE_BITS) | code[:, None], -1)  # -1 never wins
    pixels = torch.where(inside, faces.corner.index_select(0, part)[:, None] + oy * rw + ox, 0)
    keybuf.scatter_reduce_(0, pixels.view(-1), keys.view(-1), reduce="amax")


def _chunks_by_cost(cost: torch.Tensor, budget: int) -> list[tuple[int, int]]:
    """Split consecutive items with the given costs into [lo, hi) runs of about ``budget``."""
    total = torch.cumsum(cost, 0)
    n_chunks = int(total[-1]) // budget + 1
    marks = torch.arange(1, n_chunks, device=cost.device) * budget
    cuts = [0, *torch.searchsorted(total, marks, right=True).tolist(), cost.numel()]
    return [(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:]) if hi > lo]
