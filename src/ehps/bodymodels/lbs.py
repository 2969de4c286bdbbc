"""Linear blend skinning for SMPL-family models, as pure tensor functions (batch-first, any device,
float32 / float64, differentiable).

Layout choices (they are what makes the SMPL-X forward fast on a CPU; see
``benchmarks/bodymodel_speed.py``):

- Per-vertex quantities of a batch are kept *vertex-major with the batch innermost*:
  ``(3, V, B)``. Every blend-shape basis is one ``(3V, K)`` matrix, so shape, expression and
  pose correctives are a single GEMM ``basis @ coeffs.T`` with the template as bias (this
  orientation measured 15-30% faster than ``coeffs @ basis.T`` for B = 64).
- Skinning runs per chunk of 512 vertices (:func:`skin`): a GEMM over only the joints that
  chunk depends on (about 5 of 55 for SMPL-X-like weights, :func:`plan_skinning`), then
  multiply-adds over contiguous batch rows while the blended transforms are still in cache.
- Rest joints come from ``J_regressor`` applied *in advance* to the template and to the
  shape directions (``(K, J * 3)``), so the ``(J, V)`` regression never runs per sample.
- Global joint transforms are composed by pointer jumping: ``ceil(log2(depth + 1))`` batched
  4x4 products over all joints at once instead of one product per joint.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "rodrigues",
    "pose_features",
    "jump_table",
    "global_transforms",
    "skinning_transforms",
    "plan_skinning",
    "skin",
]


def rodrigues(aa: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Axis-angle (..., 3) -> rotation matrices (..., 3, 3).

    The angle is ``|aa + eps|`` (``eps`` added to every component), the convention of the SMPL
    family's reference layers: it keeps the gradient finite at the zero rotation (where it gives
    exactly the identity) and reproduces their outputs to the last bits. The error against an
    exact conversion is below ``2 * eps`` rad.
    """
    angle = torch.linalg.vector_norm(aa + eps, dim=-1, keepdim=True)
    axis = aa / angle
    cos = torch.cos(angle).unsqueeze(-1)
    sin = torch.sin(angle).unsqueeze(-1)
    rx, ry, rz = axis.unbind(-1)
    zero = torch.zeros_like(rx)
    k = torch.stack((zero, -rz, ry, rz, zero, -rx, -ry, rx, zero), dim=-1)
    k = k.reshape(*aa.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device)
    return eye + sin * k + (1.0 - cos) * (k @ k)


def pose_features(rotmats: torch.Tensor) -> torch.Tensor:
    """(B, J, 3, 3) local rotations -> (B, 9 * (J - 1)) pose-corrective features ``R - I``
    of every joint but the root, flattened row-major per joint."""
    eye = torch.eye(3, dtype=rotmats.dtype, device=rotmats.device)
    return (rotmats[:, 1:] - eye).flatten(1)


def jump_table(parents: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, int]:
    """Ancestor index for pointer jumping and the number of jumps needed.

    Args:
        parents: (J,) parent of each joint, -1 for the root(s); parents precede children.

    Returns:
        ``(anc, n_jumps)``: ``anc`` (J + 1,) int64 with the root(s) pointing at the extra
        identity slot ``J`` (which points at itself); ``n_jumps`` = ceil(log2(depth + 1)).
    """
    par = np.asarray(parents, dtype=np.int64).copy()
    n = len(par)
    depth = np.zeros(n, dtype=np.int64)
    for j in range(n):
        if par[j] >= j:
            raise ValueError("parents must precede their children (kintree order)")
        depth[j] = 0 if par[j] < 0 else depth[par[j]] + 1
    anc = np.append(np.where(par < 0, n, par), n)
    n_jumps = max(1, math.ceil(math.log2(int(depth.max()) + 2)))
    return torch.from_numpy(anc), n_jumps


def global_transforms(
    rotmats: torch.Tensor,
    joints: torch.Tensor,
    parents: torch.Tensor,
    anc: torch.Tensor,
    n_jumps: int,
) -> torch.Tensor:
    """Compose local joint rotations along the kinematic tree.

    Args:
        rotmats: (B, J, 3, 3) local (parent-relative) rotations.
        joints: (B, J, 3) rest joint locations.
        parents: (J,) int64 parents; the root's entry is ignored.
        anc, n_jumps: from :func:`jump_table`.

    Returns:
        (B, J, 4, 4) global transforms: rotation = the joint's accumulated rotation, translation =
        the posed joint location (root at its rest location; no global translation).
    """
    b, j = rotmats.shape[:2]
    rel = joints.clone()
    rel[:, 1:] = joints[:, 1:] - joints[:, parents[1:]]
    top = torch.cat((rotmats, rel.unsqueeze(-1)), dim=-1)  # (B, J, 3, 4)
    bottom = rotmats.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(b, j, 1, 4)
    local = torch.cat((top, bottom), dim=-2)
    eye = torch.eye(4, dtype=rotmats.dtype, device=rotmats.device).expand(b, 1, 4, 4)
    g = torch.cat((local, eye), dim=1)
    a = anc.to(rotmats.device)
    for _ in range(n_jumps):
        g = g[:, a] @ g
        a = a[a]
    return g[:, :j]


def skinning_transforms(g: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
    """(B, J, 4, 4) global transforms, (B, J, 3) rest joints -> (B, J, 3, 4) transforms that map
    *rest-pose* points to posed points: ``[R | t - R @ j_rest]``."""
    rot = g[..., :3, :3]
    t = g[..., :3, 3] - (rot @ joints.unsqueeze(-1)).squeeze(-1)
    return torch.cat((rot, t.unsqueeze(-1)), dim=-1)


def plan_skinning(
    weights: np.ndarray, chunk: int = 512, max_mean_joints: float = 12.0
) -> tuple[np.ndarray | None, list[tuple[int, int, np.ndarray]]]:
    """Split the vertices into chunks and list the joints each chunk depends on.

    Skinning weights are sparse (a vertex follows a few nearby joints), so a chunk of nearby
    vertices needs only a handful of the J joint transforms: the per-chunk GEMM of :func:`skin`
    then has K = that handful instead of J. If the file's vertex order is not local enough
    (more than ``max_mean_joints`` joints per chunk on average), vertices are reordered by their
    main joint first.

    Args:
        weights: (V, J) skinning weights.
        chunk: vertices per chunk.
        max_mean_joints: reorder when the natural order needs more joints per chunk on average.

    Returns:
        ``(order, chunks)``: ``order`` (V,) the vertex permutation to apply (``None`` = keep the
        file order), ``chunks`` a list of ``(start, end, joints)`` over the (reordered)
        vertices, ``joints`` the int64 indices of the joints with a non-zero weight there.
    """
    nonzero = np.asarray(weights) != 0
    n_v = nonzero.shape[0]

    def spans(nz: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
        return [(s, min(n_v, s + chunk), np.flatnonzero(nz[s : s + chunk].any(axis=0)))
                for s in range(0, n_v, chunk)]

    plan = spans(nonzero)
    order = None
    if np.mean([len(u) for _, _, u in plan]) > max_mean_joints:
        order = np.lexsort((np.arange(n_v), np.argmax(np.asarray(weights), axis=1)))
        plan = spans(nonzero[order])
    return order, plan


def skin(
    a: torch.Tensor,
    weights: torch.Tensor,
    v_posed: torch.Tensor,
    transl: torch.Tensor | None = None,
    chunks: list[tuple[int, int, torch.Tensor, torch.Tensor]] | None = None,
) -> torch.Tensor:
    """Linear blend skinning from vertex-major, batch-innermost input to (B, V, 3) output.

    Per chunk of vertices one GEMM ``w (n, K) @ a[joints] (K, 12 * B)`` blends the K joint
    transforms the chunk depends on (12 numbers per vertex and sample); they are applied while
    still in cache (three multiply-adds over contiguous batch rows, the translation) and written
    into the (B, V, 3) result. Without ``chunks`` it is one dense GEMM over all joints (the
    choice for accelerators).

    Args:
        a: (B, J, 3, 4) rest-to-posed joint transforms (:func:`skinning_transforms`).
        weights: (V, J) skinning weights (used when ``chunks`` is ``None``).
        v_posed: (3, V, B) rest-pose vertices with blend shapes applied, coordinate-major and
            batch-innermost (the natural output of ``basis (3V, K) @ coeffs.T (K, B)``).
        transl: optional (B, 3) translation added to every vertex.
        chunks: ``(start, end, joints (K,), w (end - start, K))`` covering the vertices in order
            (see :func:`plan_skinning`).

    Returns:
        (B, V, 3) posed vertices, contiguous.
    """
    b, j = a.shape[:2]
    n_v = v_posed.shape[1]
    cols = a.permute(1, 2, 3, 0).reshape(j, 12 * b)  # column (i, k, b) of the blended transform
    shift = transl.t().unsqueeze(0) if transl is not None else None  # (1, 3, B)
    if chunks is None:
        chunks = [(0, n_v, None, weights)]  # type: ignore[list-item]
    out = a.new_empty(b, n_v, 3)
    for s, e, joints, w in chunks:
        c = cols if joints is None else cols.index_select(0, joints)
        t = (w @ c).view(e - s, 3, 4, b)
        p = v_posed[:, s:e].unsqueeze(2)  # (3, n, 1, B)
        base = t[:, :, 3] if shift is None else t[:, :, 3] + shift
        res = torch.addcmul(base, t[:, :, 0], p[0])
        res = res.addcmul_(t[:, :, 1], p[1]).addcmul_(t[:, :, 2], p[2])  # (n, 3, B)
        if s == 0 and e == n_v:
            return res.permute(2, 0, 1).contiguous()
        out[:, s:e] = res.permute(2, 0, 1)
    return out
