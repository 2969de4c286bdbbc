"""Triangle-mesh files: Wavefront OBJ, binary PLY and glTF binary (GLB), written atomically.

OBJ and PLY are written by small numpy writers here (no dependency, and no vertex merging or
reordering: vertex ``i`` of the input is vertex ``i`` of the file, which keeps SMPL-X vertex ids
meaningful). GLB goes through ``trimesh`` (the ``export`` extra) with processing disabled, for the
same reason.

Coordinates are written as given (metres). ehps meshes live in the OpenCV camera frame (y down,
z forward), which most viewers show upside down; pass ``flip_yz=True`` to write them in the
OpenGL / glTF camera frame instead (x, -y, -z: a 180-degree rotation about x, so face winding and
handedness are kept).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ehps.errors import InputError, require
from ehps.utils.io import PathLike, atomic_write_bytes

__all__ = ["save_obj", "save_ply", "save_glb", "save_scene_glb", "save_mesh", "MESH_FORMATS"]

MESH_FORMATS: tuple[str, ...] = ("obj", "ply", "glb")


def _as_numpy(x: object) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()  # type: ignore[union-attr]
    return np.asarray(x)


def _check_mesh(
    vertices: object, faces: object, vertex_colors: object | None, flip_yz: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate and convert to float32 (V, 3), int64 (F, 3) and optional uint8 (V, 4) RGBA."""
    v = _as_numpy(vertices)
    f = _as_numpy(faces)
    if v.ndim != 2 or v.shape[1] != 3 or not np.issubdtype(v.dtype, np.number):
        raise InputError(f"vertices must be a (V, 3) numeric array, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise InputError("vertices contain NaN or infinite values; check the model output")
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer):
        raise InputError(f"faces must be a (F, 3) integer array, got {f.shape} {f.dtype}")
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise InputError(
            f"face indices must lie in [0, {len(v)}) (0-based), got [{f.min()}, {f.max()}]"
        )
    v = v.astype(np.float32)
    if flip_yz:
        v = v * np.array([1.0, -1.0, -1.0], np.float32)
    return v, f.astype(np.int64), _colors_rgba(vertex_colors, len(v))


def _colors_rgba(colors: object | None, n: int) -> np.ndarray | None:
    """(V, 3|4) or (3|4,) colours, floats in [0, 1] or uint8 -> (V, 4) uint8 RGBA."""
    if colors is None:
        return None
    c = _as_numpy(colors)
    if c.ndim == 1:
        c = np.broadcast_to(c, (n, c.shape[0]))
    if c.ndim != 2 or c.shape[0] != n or c.shape[1] not in (3, 4):
        raise InputError(f"vertex_colors must be (V, 3) or (V, 4) with V = {n}, got {c.shape}")
    if np.issubdtype(c.dtype, np.floating):
        c = np.clip(np.rint(c * 255.0), 0, 255)
    c = c.astype(np.uint8)
    if c.shape[1] == 3:
        c = np.concatenate([c, np.full((n, 1), 255, np.uint8)], axis=1)
    return np.ascontiguousarray(c)


def save_obj(
    path: PathLike,
    vertices: object,
    faces: object,
    vertex_colors: object | None = None,
    *,
    flip_yz: bool = False,
) -> Path:
    """Write a Wavefront OBJ (``v x y z [r g b]`` lines, 1-based ``f`` lines).

    Args:
        path: output file.
        vertices: (V, 3) float, metres.
        faces: (F, 3) int, 0-based.
        vertex_colors: optional (V, 3|4) or (3,) colours (floats in [0, 1] or uint8), written as
            the common ``v x y z r g b`` extension (floats in [0, 1]; alpha is dropped).
        flip_yz: write (x, -y, -z) (OpenCV camera frame -> OpenGL / glTF frame).

    Returns:
        The path written.
    """
    v, f, rgba = _check_mesh(vertices, faces, vertex_colors, flip_yz)
    out = io.StringIO()
    out.write("# written by ehps\n")
    if rgba is None:
        out.write(("v %.6f %.6f %.6f\n" * len(v)) % tuple(v.ravel().tolist()))
    else:
        rows = np.concatenate([v.astype(np.float64), rgba[:, :3] / 255.0], axis=1)
        out.write(("v %.6f %.6f %.6f %.4f %.4f %.4f\n" * len(v)) % tuple(rows.ravel().tolist()))
    out.write(("f %d %d %d\n" * len(f)) % tuple((f + 1).ravel().tolist()))
    atomic_write_bytes(path, out.getvalue().encode("ascii"))
    return Path(path)


def save_ply(
    path: PathLike,
    vertices: object,
    faces: object,
    vertex_colors: object | None = None,
    *,
    flip_yz: bool = False,
) -> Path:
    """Write a binary little-endian PLY (float32 x y z, optional uchar red green blue alpha,
    faces as a uchar-counted int32 ``vertex_indices`` list). Arguments as in :func:`save_obj`."""
    v, f, rgba = _check_mesh(vertices, faces, vertex_colors, flip_yz)
    header = ["ply", "format binary_little_endian 1.0", "comment written by ehps"]
    header += [f"element vertex {len(v)}"] + [f"property float {c}" for c in "xyz"]
    vfields: list[tuple[str, str]] = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if rgba is not None:
        header += [f"property uchar {c}" for c in ("red", "green", "blue", "alpha")]
        vfields += [("red", "u1"), ("green", "u1"), ("blue", "u1"), ("alpha", "u1")]
    header += [f"element face {len(f)}", "property list uchar int vertex_indices", "end_header"]
    vrec = np.zeros(len(v), dtype=np.dtype(vfields))
    vrec["x"], vrec["y"], vrec["z"] = v[:, 0], v[:, 1], v[:, 2]
    if rgba is not None:
        for i, c in enumerate(("red", "green", "blue", "alpha")):
            vrec[c] = rgba[:, i]
    frec = np.zeros(len(f), dtype=np.dtype([("n", "u1"), ("idx", "<i4", (3,))]))
    frec["n"] = 3
    frec["idx"] = f.astype(np.int32)
    data = ("\n".join(header) + "\n").encode("ascii") + vrec.tobytes() + frec.tobytes()
    atomic_write_bytes(path, data)
    return Path(path)


def _trimesh_mesh(v: np.ndarray, f: np.ndarray, rgba: np.ndarray | None) -> object:
    trimesh = require("trimesh", "export", "GLB export")
    return trimesh.Trimesh(vertices=v, faces=f, vertex_colors=rgba, process=False)


def save_glb(
    path: PathLike,
    vertices: object,
    faces: object,
    vertex_colors: object | None = None,
    name: str = "body",
    *,
    flip_yz: bool = False,
) -> Path:
    """Write a glTF 2.0 binary file holding one named mesh node (needs ``trimesh``: the
    ``export`` extra). Vertex order is kept. Arguments as in :func:`save_obj`; ``name`` names the
    mesh and its node."""
    return save_scene_glb(path, [(vertices, faces)], [name], [vertex_colors], flip_yz=flip_yz)


def save_scene_glb(
    path: PathLike,
    meshes: Sequence[tuple[object, object]],
    names: Sequence[str] | None = None,
    vertex_colors: Sequence[object | None] | None = None,
    *,
    flip_yz: bool = False,
) -> Path:
    """Write several meshes (e.g. every person of a frame) as named nodes of one GLB scene.

    Args:
        path: output file.
        meshes: ``(vertices (V, 3), faces (F, 3))`` pairs.
        names: one unique name per mesh (default ``person_0``, ``person_1``, ...).
        vertex_colors: one colour argument per mesh (see :func:`save_obj`) or ``None``.
        flip_yz: as in :func:`save_obj`.
    """
    trimesh = require("trimesh", "export", "GLB export")
    names = [f"person_{i}" for i in range(len(meshes))] if names is None else list(names)
    colors = [None] * len(meshes) if vertex_colors is None else list(vertex_colors)
    if len(names) != len(meshes) or len(colors) != len(meshes):
        raise InputError("give one name and one colour entry per mesh")
    if len(set(names)) != len(names):
        raise InputError(f"mesh names must be unique, got {names}")
    scene = trimesh.Scene()
    for (verts, fcs), name, col in zip(meshes, names, colors):
        mesh = _trimesh_mesh(*_check_mesh(verts, fcs, col, flip_yz))
        scene.add_geometry(mesh, node_name=name, geom_name=name)
    data = scene.export(file_type="glb")
    atomic_write_bytes(path, data)
    return Path(path)


def save_mesh(
    path: PathLike,
    vertices: object,
    faces: object,
    vertex_colors: object | None = None,
    *,
    file_format: str | None = None,
    name: str = "body",
    flip_yz: bool = False,
) -> Path:
    """Write a mesh in the format named by ``file_format`` or by the path's suffix
    (``.obj``, ``.ply`` or ``.glb``). Other arguments as in :func:`save_obj` / :func:`save_glb`."""
    fmt = (file_format or Path(path).suffix.lstrip(".")).lower()
    if fmt == "obj":
        return save_obj(path, vertices, faces, vertex_colors, flip_yz=flip_yz)
    if fmt == "ply":
        return save_ply(path, vertices, faces, vertex_colors, flip_yz=flip_yz)
    if fmt == "glb":
        return save_glb(path, vertices, faces, vertex_colors, name, flip_yz=flip_yz)
    raise InputError(
        f"unknown mesh format {fmt!r} for {str(path)!r}; use one of {', '.join(MESH_FORMATS)} "
        "(as the file suffix or file_format=...)"
    )
