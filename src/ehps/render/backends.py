"""Rasteriser back-ends: the pure-torch default and an optional OpenGL one (moderngl).

Both produce the same :class:`~ehps.render.rasterizer.Fragments`: the OpenGL back-end only decides
which triangle is visible at each pixel (the z-buffer of Mesa's llvmpipe, headless through EGL, or
a real GPU's driver); barycentrics and depth are then computed exactly in torch from the visible
faces' planes, as in the torch back-end, so the two differ only in which face wins at exact ties
and on edges (OpenGL's top-left rule versus the torch rasteriser's inclusive edges).

``"auto"`` picks moderngl when it is installed and an EGL context can be created, else torch.
Install the optional back-end with ``pip install moderngl`` (it needs libEGL, which Mesa provides
on Linux).
"""

from __future__ import annotations

import functools
import os
from typing import Any, Literal

import numpy as np
import torch

from ehps.errors import InputError, MissingDependencyError
from ehps.render._raster_core import face_planes

__all__ = ["BackendName", "available_backends", "resolve_backend", "rasterize_screen_moderngl"]

BackendName = Literal["auto", "torch", "moderngl"]

#: Largest face count whose ids survive the float32 id buffer exactly (2**24).
_MAX_GL_FACES = 1 << 24

_VERTEX_SHADER = """
#version 330
uniform vec2 size;   // image (W, H) in pixels
uniform vec2 near_far;
in vec3 in_pos;      // (x_px, y_px, z_cam); pixel centres at integer coordinates
void main() {
    float n = near_far.x;
    float f = near_far.y;
    float z = in_pos.z;
    // image row 0 -> window row 0 (the first row glReadPixels returns); centre of pixel j at j+0.5
    vec2 ndc = (in_pos.xy + 0.5) * 2.0 / size - 1.0;
    float zc = (z * (f + n) - 2.0 * f * n) / (f - n);
    gl_Position = vec4(ndc * z, zc, z);
}
"""

_FRAGMENT_SHADER = """
#version 330
out float face_id;
void main() {
    face_id = float(gl_PrimitiveID + 1);
}
"""


class _GLState:
    """One standalone context with its program, reused across calls (and framebuffers by size)."""

    def __init__(self) -> None:
        import moderngl

        self.moderngl = moderngl
        try:
            self.ctx = moderngl.create_standalone_context(backend="egl")
        except Exception:  # fall back to the platform default (GLX / WGL / CGL)
            self.ctx = moderngl.create_standalone_context()
        self.prog = self.ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
        self.fbos: dict[tuple[int, int], Any] = {}

    def fbo(self, h: int, w: int) -> Any:
        key = (h, w)
        if key not in self.fbos:
            color = self.ctx.texture((w, h), 1, dtype="f4")
            depth = self.ctx.depth_renderbuffer((w, h))
            self.fbos[key] = self.ctx.framebuffer(color_attachments=[color], depth_attachment=depth)
        return self.fbos[key]


_STATES: dict[int, _GLState] = {}


def _gl_state() -> _GLState:
    """The context of this process (a forked child must not reuse its parent's)."""
    pid = os.getpid()
    if pid not in _STATES:
        _STATES.clear()
        _STATES[pid] = _GLState()
    return _STATES[pid]


@functools.lru_cache(maxsize=1)
def _moderngl_usable() -> bool:
    try:
        _gl_state()
    except Exception:  # any import or context failure means "not usable"
        return False
    return True


def available_backends() -> list[str]:
    """Back-ends that work on this machine, fastest first (``"torch"`` always works)."""
    return (["moderngl"] if _moderngl_usable() else []) + ["torch"]


def resolve_backend(name: str = "auto") -> str:
    """``"auto"`` -> the fastest available back-end; a named one is checked and returned."""
    if name == "auto":
        return available_backends()[0]
    if name == "torch":
        return name
    if name == "moderngl":
        if not _moderngl_usable():
            raise MissingDependencyError(
                "the 'moderngl' render back-end is not usable here (moderngl is not installed or "
                "no OpenGL context could be created). Install it with: pip install moderngl "
                "(Linux also needs libEGL, e.g. apt install libegl1), or use backend='torch'"
            )
        return name
    raise InputError(f"unknown render back-end {name!r}; use 'auto', 'torch' or 'moderngl'")


def rasterize_screen_moderngl(
    screen: torch.Tensor,
    faces: torch.Tensor,
    image_hw: tuple[int, int],
    cull_backfaces: bool,
    near: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """OpenGL visibility, exact torch barycentrics: the sparse outputs of
    :func:`ehps.render.rasterizer.rasterize_sparse`'s kernel, (pix, face, bary, depth).

    Args:
        screen: (B, N, 3) (x_px, y_px, z_cam) points.
        faces: (F, 3) int64.
        image_hw: (H, W).
        cull_backfaces, near: as for the torch rasteriser (triangles with a vertex at z <= near
            or a non-finite vertex are dropped before drawing, as there).
    """
    resolve_backend("moderngl")
    state = _gl_state()
    mgl = state.moderngl
    h, w = image_hw
    bsz = screen.shape[0]
    fbo = state.fbo(h, w)
    ctx = state.ctx
    ctx.enable(mgl.DEPTH_TEST)
    if cull_backfaces:
        # front faces have a negative area in pixel coordinates (y down), which the y-preserving
        # window mapping keeps: clockwise for OpenGL.
        ctx.front_face = "cw"
        ctx.enable(mgl.CULL_FACE)
    else:
        ctx.disable(mgl.CULL_FACE)
    state.prog["size"].value = (float(w), float(h))
    if faces.shape[0] >= _MAX_GL_FACES:
        raise InputError(f"the moderngl back-end draws at most {_MAX_GL_FACES} faces per image")
    out_pix, out_face, out_bary, out_depth = [], [], [], []
    for b in range(bsz):
        pts_t = screen[b].detach()
        ok_vert = torch.isfinite(pts_t).all(dim=1) & (pts_t[:, 2] > near)
        kept = torch.nonzero(ok_vert[faces].all(dim=1)).squeeze(1)
        if kept.numel() == 0:
            continue
        pts = np.nan_to_num(pts_t.to(torch.float32).cpu().numpy(), posinf=0.0, neginf=0.0)
        idx = faces.index_select(0, kept).to(torch.int32).cpu().numpy()
        z_used = pts[:, 2][ok_vert.cpu().numpy()]
        state.prog["near_far"].value = (0.5 * float(z_used.min()), 2.0 * float(z_used.max()) + 1e-3)
        vbo = ctx.buffer(np.ascontiguousarray(pts))
        ibo = ctx.buffer(np.ascontiguousarray(idx))
        vao = ctx.vertex_array(state.prog, [(vbo, "3f", "in_pos")], index_buffer=ibo)
        fbo.use()
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        vao.render(mgl.TRIANGLES)
        ids = np.frombuffer(fbo.read(components=1, dtype="f4"), dtype=np.float32)
        vao.release()
        ibo.release()
        vbo.release()
        ids_t = torch.from_numpy(ids.astype(np.int64)).to(screen.device)
        pix = torch.nonzero(ids_t > 0).squeeze(1)
        face = kept.index_select(0, ids_t.index_select(0, pix) - 1)
        # exact barycentrics and depth from the planes of the visible faces only.
        visible, inverse = torch.unique(face, return_inverse=True)
        tri = pts_t.double().index_select(0, faces.index_select(0, visible).view(-1)).view(-1, 3, 3)
        coef, _ = face_planes(tri)
        cw = coef.index_select(0, inverse)
        py = torch.div(pix, w, rounding_mode="floor")
        px = (pix - py * w).double()
        wts = cw[..., 0] * px[:, None] + cw[..., 1] * py.double()[:, None] + cw[..., 2]
        invz = wts.sum(dim=1, keepdim=True)
        out_pix.append(pix + b * h * w)
        out_face.append(face)
        out_bary.append((wts / invz).to(screen.dtype))
        out_depth.append((1.0 / invz.squeeze(1)).to(screen.dtype))
    if not out_pix:
        empty = torch.zeros(0, dtype=torch.int64, device=screen.device)
        zeros = torch.zeros(0, dtype=screen.dtype, device=screen.device)
        return empty, empty, zeros.view(0, 1).expand(0, 3), zeros
    return torch.cat(out_pix), torch.cat(out_face), torch.cat(out_bary), torch.cat(out_depth)
