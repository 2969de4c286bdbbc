"""A vectorised pure-torch triangle rasteriser (z-buffer, perspective-correct barycentrics).

Conventions:
- camera: OpenCV pinhole, x right, y down, z forward, vertices already in the camera frame
  (metres). A pixel's centre has integer image coordinates: pixel (row i, column j) samples the
  image point (x=j, y=i), the same convention as :func:`ehps.geometry.camera.project_points`.
- a pixel belongs to a triangle when its centre is inside it or on its boundary; the nearest such
  triangle wins (ties go to the lower packed face index).
- triangles with a vertex at ``z <= near`` are dropped, not clipped (meshes never straddle the
  camera plane in this toolkit).

Two outputs: :class:`Fragments` (dense per-pixel maps) and :class:`SparseFragments` (only the
covered pixels, cheaper for shading large frames). How the torch kernel works is described in
:mod:`ehps.render._raster_core`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ehps.errors import InputError
from ehps.geometry.camera import Intrinsics
from ehps.render._raster_core import prepare_faces, resolve, scan_torch

__all__ = [
    "Fragments",
    "SparseFragments",
    "rasterize",
    "rasterize_sparse",
    "rasterize_screen",
    "project_to_screen",
    "interpolate",
    "as_camera_matrix",
    "camera_list",
]

CameraLike = Intrinsics | torch.Tensor | np.ndarray


@dataclass
class Fragments:
    """Per-pixel rasterisation output for ``B`` images of size ``H x W``.

    Always batched: an unbatched input gives ``B = 1``.

    Attributes:
        face_idx: (B, H, W) int64 index into :attr:`faces_packed` of the visible triangle, -1 for
            background.
        mesh_idx: (B, H, W) int64 index of the mesh that triangle belongs to, -1 for background.
        depth: (B, H, W) camera-frame z of the visible surface (metres, the vertices' dtype),
            ``+inf`` for background.
        bary: (B, H, W, 3) perspective-correct barycentric weights of the visible triangle's three
            vertices (they sum to 1, and interpolate any attribute that is linear in camera space
            exactly); 0 for background.
        faces_packed: (F_total, 3) int64 triangles of all meshes concatenated, indexing the
            concatenated vertices (mesh ``m``'s vertices start at ``vert_offsets[m]``).
        face_offsets: (M + 1,) int64 first packed face of each mesh (and the total).
        vert_offsets: (M + 1,) int64 first packed vertex of each mesh (and the total).
    """

    face_idx: torch.Tensor
    mesh_idx: torch.Tensor
    depth: torch.Tensor
    bary: torch.Tensor
    faces_packed: torch.Tensor
    face_offsets: torch.Tensor
    vert_offsets: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        """(B, H, W) bool: pixels covered by any mesh."""
        return self.face_idx >= 0

    @property
    def local_face_idx(self) -> torch.Tensor:
        """(B, H, W) int64 face index within its own mesh's ``faces``, -1 for background."""
        offs = self.face_offsets[self.mesh_idx.clamp(min=0)]
        return torch.where(self.face_idx >= 0, self.face_idx - offs, self.face_idx)


def as_camera_matrix(
    K: CameraLike, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> torch.Tensor:
    """Intrinsics, a (3, 3) or (B, 3, 3) array/tensor -> a tensor of the same shape."""
    if isinstance(K, Intrinsics):
        mat = torch.as_tensor(K.matrix(), dtype=dtype, device=device)
    else:
        mat = torch.as_tensor(K, dtype=dtype, device=device)
    if mat.shape[-2:] != (3, 3) or mat.ndim not in (2, 3):
        raise InputError(
            f"camera matrix must be (3, 3) or (B, 3, 3), got {tuple(mat.shape)}; pass an "
            "ehps.geometry.camera.Intrinsics or K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]"
        )
    return mat


def camera_list(K: CameraLike | Sequence[CameraLike], n: int) -> list[CameraLike]:
    """One camera for each of ``n`` meshes: a single camera (Intrinsics, a (3, 3) / (B, 3, 3)
    array or nested list) is shared; a sequence of cameras must have one per mesh."""
    single = isinstance(K, (Intrinsics, np.ndarray, torch.Tensor))
    if not single:
        try:
            single = np.asarray(K, dtype=np.float64).shape == (3, 3)
        except (TypeError, ValueError):
            single = False
    if single:
        return [K] * n  # type: ignore[list-item]
    cams = list(K)  # type: ignore[arg-type]
    if len(cams) != n:
        raise InputError(f"got {len(cams)} cameras for {n} meshes; give one shared or one each")
    return cams


def project_to_screen(verts_cam: torch.Tensor, K: CameraLike) -> torch.Tensor:
    """Camera-frame points (B, V, 3) -> screen points (B, V, 3) = (x_px, y_px, z_cam).

    ``K`` is (3, 3) for all batch items or (B, 3, 3). Points at z <= 0 give non-finite pixels
    (the rasteriser drops their triangles).
    """
    mat = as_camera_matrix(K, verts_cam.dtype, verts_cam.device)
    if mat.ndim == 2:
        mat = mat.unsqueeze(0)
    uvw = verts_cam @ mat.transpose(-1, -2)
    z = verts_cam[..., 2:3]
    return torch.cat((uvw[..., :2] / z, z), dim=-1)


def _as_tensor(x: torch.Tensor | np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x if dtype is None else x.to(dtype)
    arr = np.asarray(x)
    t = torch.from_numpy(np.ascontiguousarray(arr))
    if dtype is not None:
        return t.to(dtype)
    return t.float() if t.is_floating_point() and t.dtype == torch.float16 else t


def _is_index_table(x: object) -> bool:
    """True for a nested list that is one (F, 3) integer table (not a list of tables)."""
    try:
        arr = np.asarray(x)
    except ValueError:  # ragged: several tables of different lengths
        return False
    return arr.ndim == 2 and np.issubdtype(arr.dtype, np.integer)


def _pack_meshes(
    verts: Sequence[torch.Tensor | np.ndarray] | torch.Tensor | np.ndarray,
    faces: Sequence[torch.Tensor | np.ndarray] | torch.Tensor | np.ndarray,
) -> tuple[list[torch.Tensor], list[torch.Tensor], bool]:
    """Normalise the inputs to lists of (B, V_m, 3) float vertices and (F_m, 3) int64 faces."""
    single = isinstance(verts, (torch.Tensor, np.ndarray))
    if not single and verts and not isinstance(verts[0], (torch.Tensor, np.ndarray)):
        # nested Python lists of numbers: one (V, 3) / (B, V, 3) array, not a list of meshes
        with contextlib.suppress(ValueError, TypeError):
            single = np.asarray(verts, dtype=np.float64).ndim in (2, 3)
        if single:
            verts = np.asarray(verts, dtype=np.float64)
    vlist = [_as_tensor(verts)] if single else [_as_tensor(v) for v in verts]
    if single or isinstance(faces, (torch.Tensor, np.ndarray)) or _is_index_table(faces):
        flist = [_as_tensor(np.asarray(faces) if isinstance(faces, list) else faces, torch.int64)]
        flist = flist * len(vlist)
    else:
        flist = [_as_tensor(f, torch.int64) for f in faces]
    if not vlist:
        raise InputError("rasterize needs at least one mesh")
    if len(flist) != len(vlist):
        raise InputError(
            f"got {len(vlist)} vertex arrays but {len(flist)} face arrays; pass one faces array "
            "per mesh, or a single faces array shared by all meshes"
        )
    out_v = []
    for m, (v, f) in enumerate(zip(vlist, flist)):
        if not v.is_floating_point():
            v = v.double()
        if v.ndim == 2:
            v = v.unsqueeze(0)
        if v.ndim != 3 or v.shape[-1] != 3:
            raise InputError(
                f"mesh {m}: vertices must be (V, 3) or (B, V, 3), got {tuple(v.shape)}"
            )
        if f.ndim != 2 or f.shape[-1] != 3:
            raise InputError(f"mesh {m}: faces must be (F, 3) integers, got {tuple(f.shape)}")
        if f.numel() and (int(f.min()) < 0 or int(f.max()) >= v.shape[1]):
            raise InputError(
                f"mesh {m}: face indices must lie in [0, {v.shape[1]}), got "
                f"[{int(f.min())}, {int(f.max())}]; are the faces of another mesh?"
            )
        out_v.append(v)
    batch = {v.shape[0] for v in out_v}
    if len(batch) != 1:
        raise InputError(f"all meshes must share one batch size, got {sorted(batch)}")
    dtypes = {v.dtype for v in out_v}
    dtype = torch.float64 if torch.float64 in dtypes else out_v[0].dtype
    return [v.to(dtype) for v in out_v], flist, single


@dataclass
class SparseFragments:
    """Rasterisation output for the covered pixels only (``n`` of them).

    Attributes:
        pix: (n,) int64 flat indices into the (B, H, W) images, ascending.
        face_idx, mesh_idx: (n,) int64 packed face index and mesh index of the visible triangle.
        depth: (n,) camera-frame z (metres); bary: (n, 3) perspective-correct weights.
        faces_packed, face_offsets, vert_offsets: as in :class:`Fragments`.
        batch: B; image_hw: (H, W).
    """

    pix: torch.Tensor
    face_idx: torch.Tensor
    mesh_idx: torch.Tensor
    depth: torch.Tensor
    bary: torch.Tensor
    faces_packed: torch.Tensor
    face_offsets: torch.Tensor
    vert_offsets: torch.Tensor
    batch: int
    image_hw: tuple[int, int]

    def to_dense(self) -> Fragments:
        """The same result as per-pixel maps."""
        h, w = self.image_hw
        size = self.batch * h * w
        dev, dt = self.depth.device, self.depth.dtype
        face = torch.full((size,), -1, dtype=torch.int64, device=dev).index_copy_(
            0, self.pix, self.face_idx
        )
        mesh = torch.full((size,), -1, dtype=torch.int64, device=dev).index_copy_(
            0, self.pix, self.mesh_idx
        )
        depth = torch.full((size,), float("inf"), dtype=dt, device=dev).index_copy_(
            0, self.pix, self.depth
        )
        bary = torch.zeros(size, 3, dtype=dt, device=dev).index_copy_(0, self.pix, self.bary)
        shape = (self.batch, h, w)
        return Fragments(
            face.view(shape), mesh.view(shape), depth.view(shape), bary.view(*shape, 3),
            self.faces_packed, self.face_offsets, self.vert_offsets,
        )


def rasterize(
    verts_cam: torch.Tensor | np.ndarray | Sequence[torch.Tensor | np.ndarray],
    faces: torch.Tensor | np.ndarray | Sequence[torch.Tensor | np.ndarray],
    K: CameraLike | Sequence[CameraLike],
    image_hw: tuple[int, int],
    *,
    cull_backfaces: bool = False,
    near: float = 1e-3,
    backend: str = "torch",
) -> Fragments:
    """Rasterise one or several meshes seen by a pinhole camera.

    Args:
        verts_cam: (V, 3) or (B, V, 3) vertices in the OpenCV camera frame (metres), or a sequence
            of such arrays (several meshes in one scene, possibly with different V; they z-test
            against each other).
        faces: (F, 3) int triangle indices, or one per mesh.
        K: the camera: :class:`Intrinsics`, a (3, 3) or (B, 3, 3) matrix, or a sequence with one
            camera per mesh (each mesh projected with its own camera, z-tested by its own
            camera-frame depth).
        image_hw: output (height, width) in pixels.
        cull_backfaces: drop triangles facing away from the camera (outward counter-clockwise
            winding assumed, as in SMPL-X and Anny); less work on closed meshes.
        near: triangles with a vertex at z <= ``near`` metres are dropped.
        backend: ``"torch"`` (default) or ``"moderngl"`` (see :mod:`ehps.render.backends`).

    Returns:
        :class:`Fragments` with batch size B (1 for unbatched input).
    """
    return rasterize_sparse(
        verts_cam, faces, K, image_hw, cull_backfaces=cull_backfaces, near=near, backend=backend
    ).to_dense()


def rasterize_sparse(
    verts_cam: torch.Tensor | np.ndarray | Sequence[torch.Tensor | np.ndarray],
    faces: torch.Tensor | np.ndarray | Sequence[torch.Tensor | np.ndarray],
    K: CameraLike | Sequence[CameraLike],
    image_hw: tuple[int, int],
    *,
    cull_backfaces: bool = False,
    near: float = 1e-3,
    backend: str = "torch",
) -> SparseFragments:
    """:func:`rasterize` returning only the covered pixels (:class:`SparseFragments`)."""
    vlist, flist, _ = _pack_meshes(verts_cam, faces)
    klist = camera_list(K, len(vlist))
    screen = torch.cat([project_to_screen(v, k) for v, k in zip(vlist, klist)], dim=1)
    device = screen.device
    vert_counts = [v.shape[1] for v in vlist]
    face_counts = [f.shape[0] for f in flist]
    vert_offsets = torch.tensor([0, *np.cumsum(vert_counts).tolist()], device=device)
    face_offsets = torch.tensor([0, *np.cumsum(face_counts).tolist()], device=device)
    faces_packed = torch.cat([f.to(device) + vert_offsets[m] for m, f in enumerate(flist)])
    pix, face_idx, bary, depth = _rasterize_screen_sparse(
        screen, faces_packed, _check_hw(image_hw), cull_backfaces, near, backend
    )
    face_to_mesh = torch.repeat_interleave(
        torch.arange(len(flist), device=device), torch.tensor(face_counts, device=device)
    )
    mesh_idx = face_to_mesh.index_select(0, face_idx)
    return SparseFragments(
        pix, face_idx, mesh_idx, depth, bary, faces_packed, face_offsets, vert_offsets,
        screen.shape[0], _check_hw(image_hw),
    )


def _check_hw(image_hw: tuple[int, int]) -> tuple[int, int]:
    h, w = int(image_hw[0]), int(image_hw[1])
    if h <= 0 or w <= 0:
        raise InputError(f"image_hw must be positive (height, width), got {image_hw}")
    return h, w


def _rasterize_screen_sparse(
    screen: torch.Tensor,
    faces: torch.Tensor,
    image_hw: tuple[int, int],
    cull_backfaces: bool,
    near: float,
    backend: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(pix, face, bary, depth) of the covered pixels; see :func:`rasterize_screen`."""
    if screen.ndim == 2:
        screen = screen.unsqueeze(0)
    faces = faces.to(device=screen.device, dtype=torch.int64)
    if backend == "moderngl":
        from ehps.render.backends import rasterize_screen_moderngl

        return rasterize_screen_moderngl(screen, faces, image_hw, cull_backfaces, near)
    if backend != "torch":
        raise InputError(f"unknown rasteriser backend {backend!r}; use 'torch' or 'moderngl'")
    prep = prepare_faces(screen, faces, image_hw, cull_backfaces, near)
    pix, pos = scan_torch(prep)
    face, bary, depth = resolve(prep, pix, pos, screen.dtype)
    return pix, face, bary, depth


def rasterize_screen(
    screen: torch.Tensor,
    faces: torch.Tensor,
    image_hw: tuple[int, int],
    *,
    cull_backfaces: bool = False,
    near: float = 1e-3,
    backend: str = "torch",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rasterise already-projected triangles.

    Args:
        screen: (B, N, 3) or (N, 3) points (x_px, y_px, z_cam); z is used for the z-test and for
            perspective correction.
        faces: (F, 3) int64 indices into the N points.
        image_hw: (H, W).
        cull_backfaces, near, backend: as in :func:`rasterize`.

    Returns:
        face_idx (B, H, W) int64 (-1 background), depth (B, H, W) (+inf background),
        bary (B, H, W, 3) perspective-correct (0 background), in ``screen``'s dtype.
    """
    if screen.ndim == 2:
        screen = screen.unsqueeze(0)
    hw = _check_hw(image_hw)
    pix, face, bary, depth = _rasterize_screen_sparse(
        screen, faces, hw, cull_backfaces, near, backend
    )
    empty = torch.zeros(1, dtype=torch.int64, device=screen.device)
    frags = SparseFragments(
        pix, face, torch.zeros_like(face), depth, bary, faces, empty, empty, screen.shape[0], hw
    ).to_dense()
    return frags.face_idx, frags.depth, frags.bary


def interpolate(
    frags: Fragments | SparseFragments,
    attrs: torch.Tensor | np.ndarray | Sequence[torch.Tensor | np.ndarray],
) -> torch.Tensor:
    """Interpolate per-vertex attributes with the perspective-correct barycentrics.

    Args:
        frags: output of :func:`rasterize` or :func:`rasterize_sparse`.
        attrs: (V_total, C) or (B, V_total, C) attributes of the packed vertices, or a sequence
            with one (V_m, C) / (B, V_m, C) array per mesh.

    Returns:
        (B, H, W, C) for :class:`Fragments` (0 on background), or (n, C) at ``frags.pix`` for
        :class:`SparseFragments`; dtype of ``frags.bary``.
    """
    a = _attr_tensor(attrs)
    if isinstance(frags, SparseFragments):
        return _interp(frags.pix, frags.face_idx, frags.bary, frags, a, frags.batch, frags.image_hw)
    bsz, h, w = frags.face_idx.shape
    cov = torch.nonzero(frags.face_idx.view(-1) >= 0).squeeze(1)
    fidx = frags.face_idx.view(-1).index_select(0, cov)
    wts = frags.bary.view(-1, 3).index_select(0, cov)
    vals = _interp(cov, fidx, wts, frags, a, bsz, (h, w))
    out = torch.zeros(bsz * h * w, vals.shape[-1], dtype=vals.dtype, device=vals.device)
    out.index_copy_(0, cov, vals)
    return out.view(bsz, h, w, -1)


def _attr_tensor(
    attrs: torch.Tensor | np.ndarray | Sequence[torch.Tensor | np.ndarray],
) -> torch.Tensor:
    if isinstance(attrs, (torch.Tensor, np.ndarray)):
        a = _as_tensor(attrs)
        return a.unsqueeze(0) if a.ndim == 2 else a
    parts = [_as_tensor(x) for x in attrs]
    parts = [p.unsqueeze(0) if p.ndim == 2 else p for p in parts]
    nb = max(p.shape[0] for p in parts)
    return torch.cat([p.expand(nb, *p.shape[1:]) for p in parts], dim=1)


def _interp(
    pix: torch.Tensor,
    face_idx: torch.Tensor,
    bary: torch.Tensor,
    frags: Fragments | SparseFragments,
    a: torch.Tensor,
    bsz: int,
    image_hw: tuple[int, int],
) -> torch.Tensor:
    h, w = image_hw
    n_verts = int(frags.vert_offsets[-1])
    a = a.to(device=bary.device, dtype=bary.dtype)
    if a.ndim != 3 or a.shape[1] != n_verts:
        raise InputError(
            f"attributes must be (V, C) or (B, V, C) with V = {n_verts} (all meshes' vertices), "
            f"got {tuple(a.shape)}"
        )
    chans = a.shape[-1]
    a = a.expand(bsz, n_verts, chans).reshape(bsz * n_verts, chans)
    vidx = frags.faces_packed.index_select(0, face_idx)
    vidx = vidx + (torch.div(pix, h * w, rounding_mode="floor") * n_verts)[:, None]
    vals = a.index_select(0, vidx.view(-1)).view(-1, 3, chans)
    return (vals * bary[..., None]).sum(dim=1)
